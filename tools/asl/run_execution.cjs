// One execution of a state machine on aws-local-stepfunctions, an ASL interpreter independent of the
// emulator's (moto's), with every Task delegated to the process that started this one.
//
// Protocol: JSON lines. The first line on stdin is {"definition", "input", "context"}. For each Task attempt,
// a line {"type": "task", "id", "state", "resource", "input"} goes to stdout and the answer comes back on
// stdin as {"id", "result"} or {"id", "error": {"name", "cause"}}; the error's name is what Retry and
// Catch match (so it is kept, unlike the package's CLI, which makes every failure a plain Error). The last
// line out is {"type": "end", "status": "SUCCEEDED" | "FAILED" | "TIMED_OUT", "output" | "error" + "cause",
// "events"}: the interpreter's event log, each event {type, state?, Error?, Cause?}.
//
// Run with NODE_PATH pointing at the node_modules that holds aws-local-stepfunctions (.tools/asl).
"use strict";

// aws-local-stepfunctions 3 targets Node 22; Node 20 lacks only Promise.withResolvers.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

const readline = require("node:readline");
const { StateMachine, ExecutionError, ExecutionTimeoutError } = require("aws-local-stepfunctions");

const pending = new Map();
let nextId = 0;

function send(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

// A failure as Step Functions reports it: the error's name and its cause.
class TaskError extends Error {
  constructor(name, cause) {
    super(cause);
    this.name = name;
  }
}

function delegate(stateName, resource) {
  return (input) =>
    new Promise((resolve, reject) => {
      nextId += 1;
      pending.set(nextId, { resolve, reject });
      send({ type: "task", id: nextId, state: stateName, resource, input });
    });
}

// Task states by name, in nested Parallel branches and Map item processors as well.
function taskStates(states, found = {}) {
  for (const [name, state] of Object.entries(states)) {
    if (state.Type === "Task") found[name] = state.Resource;
    for (const branch of state.Branches || []) taskStates(branch.States, found);
    const processor = state.ItemProcessor || state.Iterator;
    if (processor) taskStates(processor.States, found);
  }
  return found;
}

function summary(event) {
  const out = { type: event.type };
  if (event.state) out.state = event.state.name;
  if (event.Error !== undefined) out.Error = event.Error;
  if (event.Cause !== undefined) out.Cause = event.Cause;
  return out;
}

async function collect(eventLogs, events) {
  for await (const event of eventLogs) events.push(summary(event));
}

async function execute(request) {
  const machine = new StateMachine(request.definition);
  const taskResourceLocalHandlers = {};
  for (const [name, resource] of Object.entries(taskStates(request.definition.States))) {
    taskResourceLocalHandlers[name] = delegate(name, resource);
  }
  const execution = machine.run(request.input, {
    overrides: { taskResourceLocalHandlers },
    context: request.context || {},
  });
  const events = [];
  const logged = collect(execution.eventLogs, events);
  let end;
  try {
    end = { status: "SUCCEEDED", output: await execution.result };
  } catch (error) {
    if (error instanceof ExecutionTimeoutError) {
      end = { status: "TIMED_OUT", error: "States.Timeout", cause: error.message };
    } else if (error instanceof ExecutionError) {
      end = { status: "FAILED", error: error.cause.name, cause: error.cause.message };
    } else {
      throw error;
    }
  }
  await logged;
  send({ type: "end", ...end, events });
}

function main() {
  const lines = readline.createInterface({ input: process.stdin });
  let started = false;
  lines.on("line", (line) => {
    if (!line.trim()) return;
    const message = JSON.parse(line);
    if (!started) {
      started = true;
      execute(message).then(
        () => process.exit(0),
        (error) => {
          process.stderr.write(`${error.stack || error}\n`);
          process.exit(2);
        },
      );
      return;
    }
    const waiting = pending.get(message.id);
    if (!waiting) throw new Error(`answer for unknown task request ${message.id}`);
    pending.delete(message.id);
    if (message.error) waiting.reject(new TaskError(message.error.name, message.error.cause));
    else waiting.resolve(message.result);
  });
  lines.on("close", () => {
    if (pending.size) {
      process.stderr.write("stdin closed while tasks were waiting for their answers\n");
      process.exit(3);
    }
  });
}

main();
