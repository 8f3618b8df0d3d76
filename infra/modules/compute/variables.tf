variable "name_prefix" {
  description = "Prefix of every resource name, e.g. \"nightly-etl\"."
  type        = string
}

variable "state_machine_name" {
  description = "Name of the ETL state machine (its executions are described by track_begin and read by track_failure). Its ARN cannot be passed: the state machine depends on these functions."
  type        = string
}

variable "environment" {
  description = "Name of the environment (local, dev, prod), passed to the functions as ENVIRONMENT."
  type        = string
}

variable "artifacts_dir" {
  description = "Folder holding the build outputs: lambdas/<function>.zip, glue/load_orders.py and glue/pipeline.zip."
  type        = string
}

variable "artifacts_bucket_name" {
  description = "Bucket that receives the Glue script and the pipeline library."
  type        = string
}

variable "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket."
  type        = string
}

variable "landing_bucket_name" {
  description = "Bucket of the partner's drop and the reference data (read by extract)."
  type        = string
}

variable "landing_bucket_arn" {
  description = "ARN of the landing bucket."
  type        = string
}

variable "staging_bucket_name" {
  description = "Bucket of per-run staging files, reports and rejected/failed records."
  type        = string
}

variable "staging_bucket_arn" {
  description = "ARN of the staging bucket."
  type        = string
}

variable "orders_table_name" {
  description = "DynamoDB table the Glue job loads orders into."
  type        = string
}

variable "orders_table_arn" {
  description = "ARN of the orders table."
  type        = string
}

variable "runs_table_name" {
  description = "DynamoDB table of runs (one item per run date)."
  type        = string
}

variable "runs_table_arn" {
  description = "ARN of the runs table."
  type        = string
}

variable "retry_queue_url" {
  description = "URL of the SQS retry queue."
  type        = string
}

variable "retry_queue_arn" {
  description = "ARN of the SQS retry queue."
  type        = string
}

variable "retry_dlq_url" {
  description = "URL of the retry queue's dead-letter queue."
  type        = string
}

variable "retry_dlq_arn" {
  description = "ARN of the retry queue's dead-letter queue."
  type        = string
}

variable "status_topic_arn" {
  description = "ARN of the SNS topic notify publishes the run status to."
  type        = string
}

variable "status_topic_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the status topic: the functions that publish to it may use it. Null for an unencrypted topic."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "Customer managed KMS key of the buckets, tables and queues, if any: the roles may use it. Null when AWS managed keys are used."
  type        = string
  default     = null
}

variable "lambda_timeouts" {
  description = "Timeout in seconds per function; omitted functions keep their default (track_begin 30, extract 900, track_result 300, notify 60, track_failure 60)."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for name, seconds in var.lambda_timeouts : contains(["track_begin", "extract", "track_result", "notify", "track_failure"], name) && seconds >= 1 && seconds <= 900])
    error_message = "lambda_timeouts keys must be function names (track_begin, extract, track_result, notify, track_failure) and values within 1..900."
  }
}

variable "lambda_memory_sizes" {
  description = "Memory in MB per function; omitted functions keep their default (extract 1024, the others 256)."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for name, mb in var.lambda_memory_sizes : contains(["track_begin", "extract", "track_result", "notify", "track_failure"], name) && mb >= 128 && mb <= 10240])
    error_message = "lambda_memory_sizes keys must be function names and values within 128..10240."
  }
}

variable "lambda_runtime" {
  description = "Lambda runtime of every function; Python 3.11 matches the Glue 5.0 runtime the shared code also runs on."
  type        = string
  default     = "python3.11"
}

variable "log_retention_days" {
  description = "Retention of the functions' CloudWatch log groups, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "max_attempts" {
  description = "Attempts at loading a failed record before it is quarantined (MAX_ATTEMPTS)."
  type        = number
  default     = 3

  validation {
    condition     = var.max_attempts >= 1
    error_message = "max_attempts must be at least 1."
  }
}

variable "orders_source" {
  description = "Where extract reads the day's orders (ORDERS_SOURCE): an s3:// or https:// URL with a {run_date} placeholder. Null means s3://<landing>/landing/orders/dt={run_date}/."
  type        = string
  default     = null
}

variable "catalog_source" {
  description = "Where the product catalog is read (CATALOG_SOURCE): an s3:// or https:// URL. Null means s3://<landing>/reference/products.csv."
  type        = string
  default     = null
}

variable "drain_visibility_seconds" {
  description = "How long messages received from the retry queue and its DLQ stay hidden (DRAIN_VISIBILITY_SECONDS): the longest retry budget of the states that receive them (nightly_etl computes it from the state machine's definition)."
  type        = number
  default     = 5507

  validation {
    condition     = var.drain_visibility_seconds >= 1 && var.drain_visibility_seconds <= 43200
    error_message = "drain_visibility_seconds must be within 1..43200 (SQS's longest visibility timeout): shorten the Extract or TrackResult state's TimeoutSeconds or retries."
  }
}

variable "chunk_rows" {
  description = "Rows per staging chunk written by extract (CHUNK_ROWS)."
  type        = number
  default     = 50000

  validation {
    condition     = var.chunk_rows >= 1
    error_message = "chunk_rows must be at least 1."
  }
}

variable "service_name" {
  description = "Service name in the functions' structured logs and metrics (POWERTOOLS_SERVICE_NAME)."
  type        = string
  default     = "nightly-etl"
}

variable "log_level" {
  description = "Log level of the functions (LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR."
  }
}

variable "redash_url" {
  description = "Base URL of the Redash instance showing the runs (REDASH_URL); empty when there is none."
  type        = string
  default     = ""
}

variable "redash_api_key_parameter" {
  description = "Name of the SSM parameter holding the Redash API key (REDASH_API_KEY_PARAMETER); empty when there is none. When set, notify may read it."
  type        = string
  default     = ""
}

variable "glue_version" {
  description = "Glue version of the load job (5.0: Spark 3.5.4, Python 3.11)."
  type        = string
  default     = "5.0"
}

variable "glue_worker_type" {
  description = "Worker type of the load job."
  type        = string
  default     = "G.1X"
}

variable "glue_number_of_workers" {
  description = "Number of workers of the load job."
  type        = number
  default     = 2

  validation {
    condition     = var.glue_number_of_workers >= 2
    error_message = "glue_number_of_workers must be at least 2 (one driver and one executor)."
  }
}

variable "glue_timeout_minutes" {
  description = "Timeout of one load job run, in minutes."
  type        = number
  default     = 60
}

variable "glue_max_concurrent_runs" {
  description = "Runs of the load job allowed at the same time (backfills run several dates)."
  type        = number
  default     = 3
}

variable "log_kms_key_arn" {
  description = "KMS key encrypting the functions' log groups. Its key policy must allow the CloudWatch Logs service principal of the region. Null keeps CloudWatch Logs' own encryption."
  type        = string
  default     = null
}

variable "lambda_tracing_mode" {
  description = "X-Ray tracing mode of every function: Active samples and traces invocations, PassThrough only forwards an upstream trace header."
  type        = string
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.lambda_tracing_mode)
    error_message = "lambda_tracing_mode must be Active or PassThrough."
  }
}
