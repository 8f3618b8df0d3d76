"""The Lambda runtime: Invoke runs the deployed zip in pooled worker processes, as Lambda's Python runtime does.

What a function gets, as on AWS: its zip unpacked as the task root (first on ``sys.path``), its layers' ``python``
directories, then only what AWS's python3.11 runtime provides (boto3, botocore, s3transfer, jmespath, dateutil,
six, urllib3) and the standard library. Anything else the code imports must be in the zip: the dev venv is not
visible. ``Runtime`` must be the emulator's own Python (python3.11) and ``PackageType`` Zip. The function's
boto3 clients reach the emulator through ``AWS_ENDPOINT_URL`` (its internal, TLS endpoint, trusted through
``AWS_CA_BUNDLE``) and act as the function's execution role: each worker gets that role's temporary
credentials from the emulator's STS, in a session named after the function, so IAM enforcement authorizes
its calls against the role's policies. A role whose trust policy does not name lambda.amazonaws.com is
refused at CreateFunction and UpdateFunctionConfiguration, as on AWS.

Where it differs from AWS: an Event invocation runs once (no automatic retries, no destinations); memory is
reported, not limited; a worker is reused only by invocations of the same version, code and configuration.

Control: ``GET /_emulator/lambda`` lists the execution environments; the ``fail_lambda`` fault knob makes a
function fail with ``EmulatedFault`` without running.
"""

from emulator.lambda_runtime.responses import LambdaRuntimeExtension

__all__ = ["LambdaRuntimeExtension"]
