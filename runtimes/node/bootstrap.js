'use strict';
// ondol's built-in Node.js runtime: a dependency-free client of the Lambda Runtime API.
// Cold start is the metric that matters, so beyond what Node has already loaded by the
// time this file runs (fs, path, url, util) the only module pulled in is `http`.

const http = require('http');
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');
const util = require('util');

const env = process.env;
const [HOST, PORT] = splitHostPort(env.AWS_LAMBDA_RUNTIME_API);
const BASE = '/2018-06-01/runtime';
// One persistent connection that the GET /next long poll and the result POSTs take turns on.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

let requestId; // shown in log records; undefined during init, as in Lambda
let tenantId; // Lambda-Runtime-Aws-Tenant-Id of the current invocation, in JSON records
let initializing = true;
let pending = null; // id of the invocation whose result has not been sent yet
let posting = Promise.resolve(); // the latest result POST
let dying = false;

function splitHostPort(api) {
  if (!api) throw new Error('AWS_LAMBDA_RUNTIME_API is not set');
  const colon = api.lastIndexOf(':');
  return [api.slice(0, colon).replace(/^\[|\]$/g, ''), Number(api.slice(colon + 1))];
}

function request(method, route, body, headers = {}) {
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = Buffer.byteLength(body);
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port: PORT, method, path: BASE + route, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        res.body = Buffer.concat(chunks).toString();
        resolve(res);
      });
      res.on('error', reject);
    });
    req.on('error', (err) => {
      // The server may drop the kept-alive connection while it sits idle during a long
      // invocation; that only shows on reuse, so retry once on a fresh connection.
      if (req.reusedSocket && err.code === 'ECONNRESET') request(method, route, body, headers).then(resolve, reject);
      else reject(err);
    });
    req.end(body);
  });
}

// Lambda's error shape. AWS's Node client names the stack lines `trace`; `stackTrace`
// repeats them so the server sees the same shape from every runtime.
function sendError(route, { errorType, errorMessage, trace }) {
  const body = JSON.stringify({ errorType, errorMessage, trace, stackTrace: trace });
  const type = String(errorType).replace(/[^\x20-\x7e]/g, '') || 'Error'; // keep the header value legal
  return request('POST', route, body, { 'Lambda-Runtime-Function-Error-Type': type });
}

// The runtime's own error types, named as AWS's client names them (src/Errors.js).
class RuntimeError extends Error {}
const runtimeError = (type) => {
  const cls = class extends RuntimeError {};
  cls.prototype.name = `Runtime.${type}`;
  return cls;
};
const ImportModuleError = runtimeError('ImportModuleError');
const HandlerNotFound = runtimeError('HandlerNotFound');
const MalformedHandlerName = runtimeError('MalformedHandlerName');
const UserCodeSyntaxError = runtimeError('UserCodeSyntaxError');
const UnhandledPromiseRejection = runtimeError('UnhandledPromiseRejection');

const isError = (value) => util.types.isNativeError(value) || value instanceof Error;
const looksLikeError = (v) => v && typeof v.name === 'string' && typeof v.message === 'string' &&
  typeof v.stack === 'string' && v.name && v.message && v.stack;

// The function's files as Lambda shows them, under /var/task, and this runtime's under
// /var/runtime: without the sandbox both run from directories of ondol's data dir.
const TASK_ROOT = (env.LAMBDA_TASK_ROOT || '').replace(/\/+$/, '');
const taskPaths = (text) => {
  if (TASK_ROOT && TASK_ROOT !== '/var/task') text = text.replaceAll(`${TASK_ROOT}/`, '/var/task/');
  return __dirname === '/var/runtime' ? text : text.replaceAll(`${__dirname}/`, '/var/runtime/');
};

// What goes to /error: AWS's toRapidResponse (src/Errors.js).
function describe(err) {
  try {
    if (util.types.isNativeError(err) || looksLikeError(err)) {
      return {
        errorType: err.name?.replaceAll('\x7F', '%7F'),
        errorMessage: err.message?.replaceAll('\x7F', '%7F'),
        trace: taskPaths(err.stack.replaceAll('\x7F', '%7F')).split('\n'),
      };
    }
    return { errorType: typeof err, errorMessage: err.toString(), trace: [] };
  } catch {
    return {
      errorType: 'handled',
      errorMessage: 'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

// An error as AWS's client logs it (src/LogPatch.js structuredConsole.logError, src/Errors.js
// toFormatted): in text `<label> \t{errorType, errorMessage, code, ...own props, stack: [lines]}`;
// in JSON the error itself as the record's message.
function logError(label, err) {
  const error = err instanceof Error ? err : new Error(err);
  if (LOG_JSON) return console.error(error);
  let text;
  try {
    text = JSON.stringify(error, (_k, v) => {
      if (!(v instanceof Error)) return v;
      const ret = Object.assign({ errorType: v.name, errorMessage: v.message, code: v.code }, v);
      if (typeof v.stack === 'string') ret.stack = v.stack.split('\n');
      return ret;
    });
  } catch {
    text = JSON.stringify(describe(error));
  }
  console.error(label, `\t${text}`);
}

// Report an error that ends this runtime, then exit; ondol starts a fresh one when needed.
function crash(label, err) {
  if (dying) return;
  dying = true;
  logError(label, err);
  const payload = describe(err);
  let report = posting; // let a result already on its way arrive first
  if (initializing) {
    report = sendError('/init/error', payload);
  } else if (pending) {
    report = sendError(`/invocation/${pending}/error`, payload);
    pending = null;
  }
  const exit = () => process.exit(1);
  report.then(exit, exit);
}

process.on('uncaughtException', (err) => crash('Uncaught Exception', err));
process.on('unhandledRejection', (reason) => {
  // AWS: new UnhandledPromiseRejection(reason), i.e. an Error whose message is String(reason).
  const error = new UnhandledPromiseRejection(reason);
  error.reason = reason;
  crash('Unhandled Promise Rejection', error);
});

// Lambda's log records (src/LogPatch.js): `<ISO time>\t<request id>\t<LEVEL>\t<message>`,
// or a JSON object under AWS_LAMBDA_LOG_FORMAT=JSON; newlines inside become \r so a
// multi-line message stays one record. AWS_LAMBDA_LOG_LEVEL silences the levels below it.
const LOG_JSON = env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';
const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];
const MIN_LEVEL = Math.max(LEVELS.indexOf(env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase()), 0);

function errorFields(err) {
  return {
    errorType: err?.constructor?.name ?? 'UnknownError',
    errorMessage: err.message,
    stackTrace: typeof err.stack === 'string' ? err.stack.split('\n') : err.stack,
  };
}

function jsonRecord(level, params) {
  const record = { timestamp: new Date().toISOString(), level, requestId };
  if (tenantId != null) record.tenantId = tenantId;
  if (params.length === 1) {
    record.message = params[0];
    try {
      return JSON.stringify(record, (_k, v) => (v instanceof Error ? Object.assign(errorFields(v), v) : v));
    } catch {
      record.message = util.format(record.message);
      return JSON.stringify(record);
    }
  }
  record.message = util.format(...params);
  const err = params.find((p) => p instanceof Error);
  if (err) Object.assign(record, errorFields(err), { stackTrace: typeof err.stack === 'string' ? err.stack.split('\n') : [] });
  return JSON.stringify(record);
}

LEVELS.forEach((level, rank) => {
  const method = level.toLowerCase();
  if (rank < MIN_LEVEL && level !== 'FATAL') {
    console[method] = () => {};
  } else {
    console[method] = (...params) => {
      const line = LOG_JSON
        ? jsonRecord(level, params)
        : `${new Date().toISOString()}\t${requestId}\t${level}\t${util.format(...params)}`;
      process.stdout.write(taskPaths(line).replace(/\n/g, '\r') + '\n');
    };
  }
});
console.log = console.info;

// An init failure is reported as AWS's client reports it: the top-level `run()` rejects,
// which Node raises as an uncaught exception (src/index.mjs).
function initFailed(err) {
  crash('Uncaught Exception', err);
  return new Promise(() => {}); // never settles: crash() exits once the error is reported
}

// Lambda's lookup order: the bare name, .js, .mjs, .cjs; then Node resolution of the path
// (a directory's index.js or package main) and of the name (a package in node_modules).
function resolveModule(dir, name) {
  const base = path.join(dir, name);
  for (const ext of ['', '.js', '.mjs', '.cjs']) {
    if (fs.statSync(base + ext, { throwIfNoEntry: false })?.isFile()) return base + ext;
  }
  for (const target of [base, name]) {
    try {
      return require.resolve(target, { paths: [dir] });
    } catch {}
  }
  return null;
}

async function loadModule(file) {
  if (!file.endsWith('.mjs')) {
    try {
      return require(file);
    } catch (err) {
      // An ES module behind a .js name ("type": "module" package) can only be imported.
      if (err.code !== 'ERR_REQUIRE_ESM' && err.code !== 'ERR_REQUIRE_ASYNC_MODULE') throw err;
    }
  }
  return import(pathToFileURL(file).href);
}

async function loadHandler() {
  const spec = env._HANDLER || '';
  if (spec.includes('..')) {
    return initFailed(new MalformedHandlerName(
      `'${spec}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`));
  }
  // "dir/file.nested.fn": module dir/file, property path nested.fn.
  const name = path.basename(spec);
  const dir = path.resolve(env.LAMBDA_TASK_ROOT || process.cwd(), path.dirname(spec));
  const dot = name.indexOf('.');
  if (dot < 1 || dot === name.length - 1) return initFailed(new MalformedHandlerName('Bad handler'));
  const moduleName = name.slice(0, dot);

  const file = resolveModule(dir, moduleName);
  if (!file) return initFailed(new ImportModuleError(`Error: Cannot find module '${moduleName}'`));
  let mod;
  try {
    mod = await loadModule(file);
  } catch (err) {
    // AWS (src/UserFunction.js _loadUserApp) wraps these two, the message being String(err).
    if (err instanceof SyntaxError) return initFailed(new UserCodeSyntaxError(err));
    if (err?.code === 'MODULE_NOT_FOUND' || err?.code === 'ERR_MODULE_NOT_FOUND') {
      return initFailed(new ImportModuleError(err));
    }
    return initFailed(err); // top-level throw: the error itself
  }

  const fn = name.slice(dot + 1).split('.').reduce((obj, key) => (obj == null ? undefined : obj[key]), mod);
  if (!fn) return initFailed(new HandlerNotFound(`${spec} is undefined or not exported`));
  if (typeof fn !== 'function') return initFailed(new HandlerNotFound(`${spec} is not a function`));
  return fn;
}

// AWS's InvokeContext._parseJson: absent is undefined, malformed fails the invocation.
function parseJson(text, name) {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

function sendResult(id, result) {
  let body;
  try {
    body = JSON.stringify(result) ?? 'null'; // undefined (and functions, symbols) serialise to nothing
  } catch (err) {
    const error = new (runtimeError('MarshalError'))(`Unable to stringify response body: ${describe(err).errorMessage}`);
    logError('Invoke Error', error);
    return sendError(`/invocation/${id}/error`, { ...describe(error), trace: [] });
  }
  return request('POST', `/invocation/${id}/response`, body);
}

function invoke(handler, next) {
  const headers = next.headers;
  const id = headers['lambda-runtime-aws-request-id'];
  const deadline = Number(headers['lambda-runtime-deadline-ms']);
  requestId = pending = id;
  tenantId = headers['lambda-runtime-aws-tenant-id'];
  if (headers['lambda-runtime-trace-id']) env._X_AMZN_TRACE_ID = headers['lambda-runtime-trace-id'];
  else delete env._X_AMZN_TRACE_ID;

  return new Promise((resolve, reject) => {
    const settle = (send) => {
      if (pending !== id) return; // the first completion wins (a crash report counts too)
      pending = null;
      posting = send();
      posting.then(resolve, reject);
    };
    const succeed = (result) => settle(() => sendResult(id, result));
    const failWith = (err) => settle(() => {
      logError('Invoke Error', err);
      return sendError(`/invocation/${id}/error`, describe(err));
    });
    const done = (err, result) => (err == null ? succeed(result) : failWith(err));
    // AWS's context.fail() with nothing fails with the string 'handled' (src/CallbackContext.js).
    const fail = (err) => failWith(err ?? 'handled');
    let waits = true;
    try {
      // AWS's shape (src/CallbackContext.js, then src/InvokeContext.js), keys in its order:
      // JSON.stringify(context) prints the same. Every environment value stays a string.
      const context = {
        // Accepted but ignored: instances are not frozen between invocations, so work still
        // pending after the response simply goes on running.
        get callbackWaitsForEmptyEventLoop() { return waits; },
        set callbackWaitsForEmptyEventLoop(value) { waits = value; },
        succeed,
        fail,
        done,
        functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
        functionName: env.AWS_LAMBDA_FUNCTION_NAME,
        memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
        logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
        logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
        clientContext: parseJson(headers['lambda-runtime-client-context'], 'ClientContext'),
        identity: parseJson(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
        invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
        awsRequestId: id,
        tenantId,
        getRemainingTimeInMillis: () => deadline - Date.now(),
      };
      const result = handler(JSON.parse(next.body), context, done);
      if (result && typeof result.then === 'function') result.then(succeed, fail);
      // A callback-style handler (3+ parameters) answers through the callback, as in Lambda.
      else if (handler.length < 3) succeed(result);
    } catch (err) {
      failWith(err);
    }
  });
}

async function main() {
  const handler = await loadHandler();
  initializing = false;
  for (;;) {
    const next = await request('GET', '/invocation/next');
    if (next.statusCode !== 200) throw new Error(`GET /invocation/next: HTTP ${next.statusCode} ${next.body}`);
    await invoke(handler, next);
  }
}

main().catch((err) => crash('Runtime Error', err));
