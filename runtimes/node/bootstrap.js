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
  const type = errorType.replace(/[^\x20-\x7e]/g, '') || 'Error'; // keep the header value legal
  return request('POST', route, body, { 'Lambda-Runtime-Function-Error-Type': type });
}

const isError = (value) => util.types.isNativeError(value) || value instanceof Error;

function describe(err) {
  try {
    if (isError(err) || (err && typeof err.name === 'string' && typeof err.message === 'string')) {
      const trace = typeof err.stack === 'string' ? err.stack.split('\n') : [];
      return { errorType: String(err.name || 'Error'), errorMessage: String(err.message), trace };
    }
    // Like AWS: a thrown string is of type "string", a rejected object of type "object".
    return { errorType: typeof err, errorMessage: typeof err === 'string' ? err : util.inspect(err), trace: [] };
  } catch {
    return { errorType: 'Error', errorMessage: 'the thrown value could not be inspected', trace: [] };
  }
}

function logError(label, { errorType, errorMessage, trace }) {
  console.error(`${label} \t${JSON.stringify({ errorType, errorMessage, stack: trace })}`);
}

// Report an error that ends this runtime, then exit; ondol starts a fresh one when needed.
function crash(label, payload) {
  if (dying) return;
  dying = true;
  logError(label, payload);
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

process.on('uncaughtException', (err) => crash('Uncaught Exception', describe(err)));
process.on('unhandledRejection', (reason) => {
  const { errorType, errorMessage, trace } = describe(reason);
  crash('Unhandled Promise Rejection', {
    errorType: 'Runtime.UnhandledPromiseRejection',
    errorMessage: isError(reason) ? `${errorType}: ${errorMessage}` : errorMessage,
    trace,
  });
});

// Lambda's log records: one write per call, so a multi-line message stays one record.
for (const [method, level] of [
  ['log', 'INFO'], ['info', 'INFO'], ['warn', 'WARN'], ['error', 'ERROR'], ['debug', 'DEBUG'], ['trace', 'TRACE'],
]) {
  console[method] = (...args) => {
    process.stdout.write(`${new Date().toISOString()}\t${requestId}\t${level}\t${util.format(...args)}\n`);
  };
}

function initFailed(errorType, errorMessage, trace = []) {
  crash('Init Error', { errorType, errorMessage, trace });
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
    return initFailed('Runtime.MalformedHandlerName',
      `'${spec}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`);
  }
  // "dir/file.nested.fn": module dir/file, property path nested.fn.
  const name = path.basename(spec);
  const dir = path.resolve(env.LAMBDA_TASK_ROOT || process.cwd(), path.dirname(spec));
  const dot = name.indexOf('.');
  if (dot < 1 || dot === name.length - 1) return initFailed('Runtime.MalformedHandlerName', 'Bad handler');
  const moduleName = name.slice(0, dot);

  const file = resolveModule(dir, moduleName);
  if (!file) return initFailed('Runtime.ImportModuleError', `Error: Cannot find module '${moduleName}'`);
  let mod;
  try {
    mod = await loadModule(file);
  } catch (err) {
    const { errorType, errorMessage, trace } = describe(err);
    if (err instanceof SyntaxError) return initFailed('Runtime.UserCodeSyntaxError', `${errorType}: ${errorMessage}`, trace);
    if (err?.code === 'MODULE_NOT_FOUND' || err?.code === 'ERR_MODULE_NOT_FOUND') {
      return initFailed('Runtime.ImportModuleError', `${errorType}: ${errorMessage}`, trace);
    }
    return initFailed(errorType, errorMessage, trace); // top-level throw: the error's own type
  }

  const fn = name.slice(dot + 1).split('.').reduce((obj, key) => (obj == null ? undefined : obj[key]), mod);
  if (!fn) return initFailed('Runtime.HandlerNotFound', `${spec} is undefined or not exported`);
  if (typeof fn !== 'function') return initFailed('Runtime.HandlerNotFound', `${spec} is not a function`);
  return fn;
}

function parseJson(text) {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function sendResult(id, result) {
  let body;
  try {
    body = JSON.stringify(result) ?? 'null'; // undefined (and functions, symbols) serialise to nothing
  } catch (err) {
    const payload = {
      errorType: 'Runtime.MarshalError',
      errorMessage: `Unable to stringify response body: ${describe(err).errorMessage}`,
      trace: [],
    };
    logError('Invoke Error', payload);
    return sendError(`/invocation/${id}/error`, payload);
  }
  return request('POST', `/invocation/${id}/response`, body);
}

function invoke(handler, next) {
  const headers = next.headers;
  const id = headers['lambda-runtime-aws-request-id'];
  const deadline = Number(headers['lambda-runtime-deadline-ms']);
  requestId = pending = id;
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
    const fail = (err) => settle(() => {
      const payload = describe(err);
      logError('Invoke Error', payload);
      return sendError(`/invocation/${id}/error`, payload);
    });
    const done = (err, result) => (err == null ? succeed(result) : fail(err));
    const context = {
      awsRequestId: id,
      invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
      functionName: env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
      identity: parseJson(headers['lambda-runtime-cognito-identity']),
      clientContext: parseJson(headers['lambda-runtime-client-context']),
      // Accepted but ignored: instances are not frozen between invocations, so work still
      // pending after the response simply goes on running.
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => deadline - Date.now(),
      succeed,
      fail,
      done,
    };

    try {
      const result = handler(JSON.parse(next.body), context, done);
      if (result && typeof result.then === 'function') result.then(succeed, fail);
      // A callback-style handler (3+ parameters) answers through the callback, as in Lambda.
      else if (handler.length < 3) succeed(result);
    } catch (err) {
      fail(err);
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

main().catch((err) => crash('Runtime Error', describe(err)));
