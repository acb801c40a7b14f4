"""ondol's built-in Python runtime: a minimal AWS Lambda Runtime API client.

Started as `python -S -u bootstrap.py` with AWS_LAMBDA_RUNTIME_API and _HANDLER
set. Cold start is the metric that matters, so only C modules and `os` are
imported up front: the HTTP client sits on `_socket` and JSON goes through
CPython's `_json` codec directly, because the `http.client`, `socket` and `json`
packages pull in email, ssl, re and enum (measured: +23, +7 and +6 ms on a 6 ms
interpreter start). Everything else (traceback, the json package for exact
error messages, logging setup) is loaded only on the paths that need it.
Requires CPython 3.8+.
"""

import _socket
import _thread
import os
import sys
import time
from _json import encode_basestring_ascii, make_encoder, make_scanner

_JSON_WS = ' \t\n\r'
_request_id = ''          # current invocation, read by the logging filter
_tenant_id = None         # its tenant (Lambda-Runtime-Aws-Tenant-Id), likewise
# Lambda's advanced logging controls, read as awslambdaric reads them
# (awslambdaric/lambda_runtime_log_utils.py: LogFormat.from_str, _get_log_level_from_env_var).
_LOG_JSON = (os.environ.get('AWS_LAMBDA_LOG_FORMAT') or '').upper() == 'JSON'
_LOG_LEVEL = {None: '', 'TRACE': 'DEBUG'}.get(os.environ.get('AWS_LAMBDA_LOG_LEVEL'),
                                              os.environ.get('AWS_LAMBDA_LOG_LEVEL')).upper()


class _Fault(Exception):
    """A runtime-detected error reported under a `Runtime.*` error type."""

    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


# --- JSON -------------------------------------------------------------------

class _DecodeOptions:
    """What `_json.make_scanner` reads from its context: json.loads defaults."""
    strict = True
    object_hook = object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {'-Infinity': float('-inf'), 'Infinity': float('inf'),
                      'NaN': float('nan')}.__getitem__


_scan = make_scanner(_DecodeOptions)


def _loads(data):
    """json.loads for the common case; the json package only on odd or bad input."""
    try:
        text = data.decode()
        obj, end = _scan(text, len(text) - len(text.lstrip(_JSON_WS)))
        if not text[end:].strip(_JSON_WS):
            return obj
    except (ValueError, StopIteration):
        pass
    import json  # UTF-16/32 input, or an error that needs json's exact message
    return json.loads(data)


def _default(obj):
    # DynamoDB hands out Decimals and Lambda serialises them as numbers.
    decimal = sys.modules.get('decimal')
    if decimal is not None and isinstance(obj, decimal.Decimal):
        if obj.is_finite() and obj == obj.to_integral_value():
            return int(obj)
        return float(obj)
    raise TypeError('Object of type %s is not JSON serializable' % type(obj).__name__)


def _dumps(obj):
    """json.dumps(obj) with default settings (a fresh encoder for fresh cycle markers)."""
    encode = make_encoder({}, _default, encode_basestring_ascii, None,
                          ': ', ', ', False, False, True)
    return ''.join(encode(obj, 0))


# --- HTTP -------------------------------------------------------------------

class _RuntimeAPI:
    """Keep-alive HTTP/1.1 client for the Runtime API, just big enough for it."""

    def __init__(self, address):
        host, _, port = address.rpartition(':')
        self.address = address
        host = host.strip('[]')
        # getaddrinfo() runs a str host through the idna codec, importing
        # unicodedata, re and enum (~5 ms); ASCII bytes skip it.
        self.host = host.encode() if host.isascii() else host
        self.port = int(port)
        self.sock = None
        self.buf = bytearray()
        self.received = False  # some bytes of the current reply arrived

    def request(self, method, path, body=None, headers=''):
        """Send one request; return (status, lower-cased headers, body bytes)."""
        head = '%s /2018-06-01%s HTTP/1.1\r\nHost: %s\r\n%s' % (method, path, self.address, headers)
        if body is not None:
            head += 'Content-Length: %d\r\n' % len(body)
        message = (head + '\r\n').encode() + (body or b'')
        while True:
            reused = self.sock is not None
            if not reused:
                self._connect()
            self.received = False
            try:
                self.sock.sendall(message)
                return self._read_response()
            except OSError:
                self.close()
                # An idle keep-alive connection may have been closed by the
                # server; retry once on a fresh one, but never a half-read reply.
                if not reused or self.received:
                    raise

    def _connect(self):
        error = OSError('cannot resolve %s' % self.address)
        for family, kind, proto, _, addr in _socket.getaddrinfo(self.host, self.port, 0, _socket.SOCK_STREAM):
            sock = _socket.socket(family, kind, proto)
            sock.settimeout(None)  # /next blocks indefinitely whatever default user code set
            try:
                sock.connect(addr)
            except OSError as e:
                sock.close()
                error = e
                continue
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            self.sock = sock
            self.buf.clear()
            return
        raise error

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError('Runtime API closed the connection')
        self.received = True
        self.buf += data

    def _read_line(self):
        while True:
            end = self.buf.find(b'\r\n')
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[:end + 2]
                return line
            self._fill()

    def _read_exact(self, size):
        while len(self.buf) < size:
            self._fill()
        data = bytes(self.buf[:size])
        del self.buf[:size]
        return data

    def _read_response(self):
        while True:
            end = self.buf.find(b'\r\n\r\n')
            if end >= 0:
                break
            self._fill()
        lines = self.buf[:end].decode('utf-8', 'replace').split('\r\n')
        del self.buf[:end + 4]
        status = int(lines[0].split(None, 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(':')
            headers[name.strip().lower()] = value.strip()

        if 'chunked' in headers.get('transfer-encoding', '').lower():
            chunks = []
            while True:
                size = int(self._read_line().split(b';', 1)[0], 16)
                if not size:
                    break
                chunks.append(self._read_exact(size))
                self._read_exact(2)
            while self._read_line():  # trailer section ends with an empty line
                pass
            body = b''.join(chunks)
        elif 'content-length' in headers:
            body = self._read_exact(int(headers['content-length']))
        elif status < 200 or status in (204, 304):
            body = b''
        else:  # delimited by connection close
            try:
                while True:
                    self._fill()
            except ConnectionError:
                pass
            body = bytes(self.buf)
            self.buf.clear()
            headers['connection'] = 'close'

        if headers.get('connection', '').lower() == 'close':
            self.close()
        return status, headers, body

    def post(self, path, payload, error_type=None, content_type='application/json'):
        """POST a result or error; a refusal is logged, not fatal (the server owns the invocation)."""
        headers = 'Content-Type: %s\r\n' % content_type
        if error_type:
            headers += 'Lambda-Runtime-Function-Error-Type: %s\r\n' % error_type
        status, _, body = self.request('POST', path, payload, headers)
        if not 200 <= status < 300:
            sys.stderr.write('bootstrap: POST %s answered %d: %s\n'
                             % (path, status, body[:200].decode('utf-8', 'replace')))


# --- errors -----------------------------------------------------------------

def _task_path(filename):
    """A file of the function's code as Lambda shows it, under /var/task: without the
    sandbox the code runs from a content-hash directory of ondol's data dir."""
    root = os.environ.get('LAMBDA_TASK_ROOT', '').rstrip('/')
    if root and root != '/var/task' and filename.startswith(root + '/'):
        return '/var/task' + filename[len(root):]
    return filename


def _user_frames(tb):
    """awslambdaric's stackTrace (bootstrap.py: build_fault_result): the frames from
    the first one outside a `/bootstrap.py`, formatted from plain tuples (no carets)."""
    import traceback
    frames = [(_task_path(f.filename), f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    for i, frame in enumerate(frames):
        if '/bootstrap.py' not in frame[0]:
            frames = frames[i:]
            break
    return traceback.format_list(frames)


def _report(error):
    """Log an error to stdout as awslambdaric's log_error does (bootstrap.py): in JSON
    one object; in text `[ERROR] type: message`, the traceback, lines joined by \\r
    and their leading spaces turned into no-break spaces."""
    if _LOG_JSON:
        stamp = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
        sys.stdout.write(_dumps(dict({'timestamp': stamp, 'level': 'ERROR'}, **error)) + '\n')
        return
    head = '[ERROR]'
    if error['errorType']:
        head += ' ' + error['errorType'] + (':' if error['errorMessage'] else '')
    if error['errorMessage']:
        head += ' ' + error['errorMessage']
    lines = [head, 'Traceback (most recent call last):']
    for entry in error['stackTrace']:
        for line in entry.splitlines() or ['']:
            stripped = line.lstrip(' ')
            lines.append('\u00a0' * (len(line) - len(stripped)) + stripped)
    sys.stdout.write('\r'.join(lines) + '\n')


def _error(message, error_type, trace, request_id=''):
    """awslambdaric's make_error: every field present, empty rather than missing."""
    return {'errorMessage': message or '', 'errorType': error_type or '',
            'requestId': request_id or '', 'stackTrace': trace or []}


# --- watchdog -------------------------------------------------------------------

class _Watchdog:
    """A thread that wakes only when something is overdue: an init past its
    slow_init threshold (every thread's stack to the log, and where the main
    thread is to ondol, until the init ends), or an invocation near its deadline
    (the same, once). Asleep otherwise: a warm invocation costs two attribute
    writes here, and a wake-up only after an idle spell."""

    MARGIN = 0.2  # seconds before an invocation's deadline to say where it is

    def __init__(self, address, slow_ms, task_root):
        self.api = _RuntimeAPI(address)  # its own connection: the main one may be busy
        self.task_root = task_root.rstrip('/') + '/'
        self.here = _Watchdog.__init__.__code__.co_filename
        self.main = _thread.get_ident()
        self.begun = time.monotonic()
        self.slow = slow_ms / 1000.0
        self.watch = 'init'  # 'init', (request_id, deadline in epoch s), or None
        self.idle = False
        self.wake = _thread.allocate_lock()
        self.wake.acquire()
        _thread.start_new_thread(self._run, ())

    # main thread -------------------------------------------------------------
    def invoking(self, request_id, deadline_ms):
        self.watch = (request_id, deadline_ms / 1000.0) if deadline_ms else None
        if self.idle:  # checked after the write: the watchdog re-checks after its own
            self._poke()

    def done(self):
        self.watch = None

    def init_done(self):
        self.watch = None
        self._poke()  # out of its init wait, to watch the first invocation

    def _poke(self):
        try:
            self.wake.release()
        except RuntimeError:
            pass

    # watchdog thread ----------------------------------------------------------
    def _run(self):
        try:
            self._watch_init()
            while True:
                w = self.watch
                if w is None or w == 'init':
                    self.idle = True
                    if self.watch is w:
                        self.wake.acquire()
                    self.idle = False
                    continue
                left = w[1] - self.MARGIN - time.time()
                if left > 0:
                    self.wake.acquire(True, left)
                elif self.watch is w:
                    left = max(w[1] - time.time(), 0.0)
                    self._tell('ONDOL_WHERE Invocation %.2f s before its deadline' % left, w[0])
                    while self.watch is w:  # once per invocation
                        self.wake.acquire(True, self.MARGIN)
        except BaseException:
            pass  # never the function's problem

    def _watch_init(self):
        """Reports a slow init: stacks at the threshold, 2x, 4x ...; where, twice a second."""
        next_log = self.slow
        while self.watch == 'init':
            age = time.monotonic() - self.begun
            if age < self.slow:
                self.wake.acquire(True, self.slow - age)
                continue
            log = age >= next_log
            if log:
                next_log *= 2
            self._tell('ONDOL_SLOW_INIT Init still running after %.2f s' % age, None, log)
            self.wake.acquire(True, min(0.5, max(next_log - age, 0.05)))

    def _tell(self, header, request_id, log=True):
        frames = sys._current_frames()
        stack = self._frames(frames.get(self.main))
        place = self._place(stack)
        if log:
            self._log(header, place, frames)
        headers = 'Lambda-Runtime-Aws-Request-Id: %s\r\n' % request_id if request_id else ''
        try:
            self.api.request('POST', '/runtime/ondol/where', place.encode(), headers)
        except OSError:
            self.api.close()

    def _frames(self, frame):
        """The stack of `frame`, outermost first, without this file's or importlib's frames."""
        if frame is None:
            return []
        import traceback
        return [f for f in traceback.extract_stack(frame)
                if f.filename != self.here and not f.filename.startswith('<frozen importlib')]

    def _place(self, stack):
        """`app.py:12 wait_for_db → socket.create_connection(...)`: the innermost frame
        of the function's own code (else the innermost at all)."""
        if not stack:
            return 'the runtime (no Python frame running)'
        user = [f for f in stack if f.filename.startswith(self.task_root) or f.filename.startswith('/opt/')]
        f = (user or stack)[-1]
        name = f.filename[len(self.task_root):] if f.filename.startswith(self.task_root) else f.filename
        text = '%s:%d %s' % (name, f.lineno, f.name)
        return text + (' \u2192 ' + f.line if f.line else '')

    def _log(self, header, place, frames):
        import traceback
        names = {}
        threading = sys.modules.get('threading')
        if threading is not None:
            names = {t.ident: t.name for t in threading.enumerate()}
        lines = ['%s, in %s' % (header, place)]
        me = _thread.get_ident()
        for ident, frame in frames.items():
            if ident == me:
                continue
            label = 'main thread' if ident == self.main else 'thread %s' % names.get(ident, ident)
            lines.append('%s (most recent call last):' % label)
            for entry in traceback.format_list(self._frames(frame)):
                lines.extend(entry.rstrip('\n').splitlines())
        data = ('\r'.join(lines) + '\n').encode('utf-8', 'replace')
        while data:  # fd 1 itself: sys.stdout may be the function's own object
            data = data[os.write(1, data):]


# --- handler loading ----------------------------------------------------------

def _load_handler(spec):
    """awslambdaric's _get_handler (bootstrap.py): only an ImportError is an
    ImportModuleError; any other exception at import keeps its own type and trace."""
    try:
        modname, attr = spec.rsplit('.', 1)
    except ValueError as e:
        raise _Fault('Runtime.MalformedHandlerName', "Bad handler '%s': %s" % (spec, e))
    if modname.split('.')[0] in sys.builtin_module_names:
        raise _Fault('Runtime.BuiltInModuleConflict',
                     'Cannot use built-in module %s as a handler module' % modname)
    try:
        # importlib's own import (already loaded, unlike the importlib package):
        # a failing import then shows the same importlib frames as on Lambda.
        module = sys.modules['_frozen_importlib']._gcd_import(modname.replace('/', '.'))
    except ImportError as e:
        raise _Fault('Runtime.ImportModuleError', "Unable to import module '%s': %s" % (modname, e))
    except SyntaxError as e:
        raise _Fault('Runtime.UserCodeSyntaxError', "Syntax error in module '%s': %s" % (modname, e),
                     ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)])
    try:
        return getattr(module, attr)
    except AttributeError:
        raise _Fault('Runtime.HandlerNotFound', "Handler '%s' missing on module '%s'" % (attr, modname))


# --- context ------------------------------------------------------------------

class CognitoIdentity:
    __slots__ = ('cognito_identity_id', 'cognito_identity_pool_id')

    def __repr__(self):
        return 'CognitoIdentity([cognito_identity_id=%s,cognito_identity_pool_id=%s])' % (
            self.cognito_identity_id, self.cognito_identity_pool_id)


class Client:
    __slots__ = ('installation_id', 'app_title', 'app_version_name', 'app_version_code', 'app_package_name')


class ClientContext:
    __slots__ = ('custom', 'env', 'client')


def _from_dict(cls, data):
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, data.get(field))
    return obj


def _parse_header(value, what):
    try:
        return _loads(value.encode())
    except Exception as e:
        raise _Fault('Runtime.LambdaContextUnmarshalError', 'Unable to parse %s JSON: %s' % (what, e))


class LambdaContext:
    """The handler's `context`; a plain class so user code may add attributes, as on
    Lambda. Attributes and types as awslambdaric's (lambda_context.py): every value from
    the environment is the variable's string, memory_limit_in_mb included."""

    _REPR = ('aws_request_id', 'log_group_name', 'log_stream_name', 'function_name',
             'memory_limit_in_mb', 'function_version', 'invoked_function_arn',
             'client_context', 'identity', 'tenant_id')

    def __init__(self, request_id, headers, static):
        self.aws_request_id = request_id
        self.tenant_id = headers.get('lambda-runtime-aws-tenant-id')
        (self.function_name, self.function_version, self.memory_limit_in_mb,
         self.log_group_name, self.log_stream_name) = static
        self.invoked_function_arn = headers.get('lambda-runtime-invoked-function-arn')
        self._deadline_ms = int(headers.get('lambda-runtime-deadline-ms') or 0)

        # Lambda always provides an identity object, with None fields when unknown.
        raw = headers.get('lambda-runtime-cognito-identity')
        cognito = _parse_header(raw, 'Cognito Identity') if raw else {}
        self.identity = CognitoIdentity()
        self.identity.cognito_identity_id = cognito.get('cognitoIdentityId')
        self.identity.cognito_identity_pool_id = cognito.get('cognitoIdentityPoolId')

        raw = headers.get('lambda-runtime-client-context')
        self.client_context = None
        if raw:
            self.client_context = _from_dict(ClientContext, _parse_header(raw, 'Client Context'))
            if self.client_context.client is not None:
                self.client_context.client = _from_dict(Client, self.client_context.client)

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        fields = ','.join('%s=%s' % (f, getattr(self, f, None)) for f in self._REPR)
        return '%s([%s])' % (type(self).__name__, fields)


# --- logging ------------------------------------------------------------------

class _LoggingHook:
    """A meta-path finder that sets up Lambda's logging the moment the function first
    imports `logging`. awslambdaric does it before importing the function, so that a
    `logging.basicConfig()` there is a no-op; importing logging up front would cost
    every cold start ~10 ms, and until the function imports it nobody can log."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != 'logging':
            return None
        sys.meta_path.remove(_LoggingHook)
        for finder in sys.meta_path:
            spec = finder.find_spec(name, path, target) if hasattr(finder, 'find_spec') else None
            if spec is not None and spec.loader is not None:
                spec.loader = _LoggingHook.Loader(spec.loader)
                return spec
        return None

    class Loader:
        def __init__(self, loader):
            self.loader = loader

        def create_module(self, spec):
            return self.loader.create_module(spec)

        def exec_module(self, module):
            module.__spec__.loader = module.__loader__ = self.loader
            self.loader.exec_module(module)
            _setup_logging(module)


def _setup_logging(logging):
    """awslambdaric's _setup_logging (bootstrap.py): UTC times, the root logger gets a
    handler writing `[LEVEL]\\t<time>Z\\t<request id>\\t<message>` (or JSON) to stdout,
    and AWS_LAMBDA_LOG_LEVEL (if a level name) becomes the root level."""
    logging.Formatter.converter = time.gmtime

    class LambdaLoggerHandler(logging.Handler):
        def emit(self, record):
            sys.stdout.write(self.format(record))

    class LambdaLoggerFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = _request_id or ''
            record.tenant_id = _tenant_id
            return True

    handler = LambdaLoggerHandler()
    if _LOG_JSON:
        handler.setFormatter(_json_formatter(logging)())
    else:
        handler.setFormatter(logging.Formatter(
            '[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n',
            '%Y-%m-%dT%H:%M:%S'))
    root = logging.getLogger()
    if _LOG_LEVEL in logging._nameToLevel:
        root.setLevel(_LOG_LEVEL)
    handler.addFilter(LambdaLoggerFilter())
    root.addHandler(handler)


def _json_formatter(logging):
    """awslambdaric's JsonFormatter (lambda_runtime_log_utils.py), field for field."""
    import json
    import traceback
    encode = json.JSONEncoder(ensure_ascii=False, default=str).encode
    reserved = {'name', 'msg', 'args', 'levelname', 'levelno', 'pathname', 'filename',
                'module', 'exc_info', 'exc_text', 'stack_info', 'lineno', 'funcName',
                'created', 'msecs', 'relativeCreated', 'thread', 'threadName',
                'processName', 'process', 'aws_request_id', 'tenant_id', '_frame_type'}

    class JsonFormatter(logging.Formatter):
        def __init__(self):
            super().__init__(datefmt='%Y-%m-%dT%H:%M:%SZ')

        def format(self, record):
            record.levelno = min(50, max(0, record.levelno)) // 10 * 10
            record.levelname = logging.getLevelName(record.levelno)
            exc = record.exc_info
            result = {
                'timestamp': self.formatTime(record, self.datefmt),
                'level': record.levelname,
                'message': (record.msg if isinstance(record.msg, dict) and not record.args
                            else record.getMessage()),
                'logger': record.name,
                'stackTrace': traceback.format_tb(exc[2]) if exc else None,
                'errorType': exc[0].__name__ if exc else None,
                'errorMessage': str(exc[1]) if exc else None,
                'requestId': getattr(record, 'aws_request_id', None),
                'location': '%s:%s:%s' % (record.pathname, record.funcName, record.lineno) if exc else None,
            }
            if getattr(record, 'tenant_id', None) is not None:
                result['tenantId'] = record.tenant_id
            result.update((k, v) for k, v in record.__dict__.items()
                          if k not in reserved and k not in result)
            return encode({k: v for k, v in result.items() if v is not None}) + '\n'

    return JsonFormatter


# --- main loop ----------------------------------------------------------------

def _invoke(api, handler, request_id, headers, event_body, static):
    try:
        context = LambdaContext(request_id, headers, static)
        try:
            event = _loads(event_body) if event_body else None
        except Exception as e:
            raise _Fault('Runtime.UnmarshalError', 'Unable to unmarshal input: %s' % e)
        result = handler(event, context)
        if isinstance(result, bytes):  # Lambda passes bytes through unencoded
            payload, content_type = result, 'application/unknown'
        else:
            try:
                payload, content_type = _dumps(result).encode(), 'application/json'
            except Exception as e:
                raise _Fault('Runtime.MarshalError', 'Unable to marshal response: %s' % e)
    except _Fault as f:
        error = _error(f.message, f.error_type, f.trace, request_id)
    except Exception as e:
        error = _error(str(e), type(e).__name__, _user_frames(e.__traceback__), request_id)
    else:
        api.post('/runtime/invocation/%s/response' % request_id, payload, content_type=content_type)
        return
    _report(error)
    api.post('/runtime/invocation/%s/error' % request_id, _dumps(error).encode(), error['errorType'])


def _init_failed(api, error):
    """awslambdaric's init failure (bootstrap.py: run): LAMBDA_WARNING through logging,
    the error logged, POSTed to /init/error, exit 1."""
    import logging  # through _LoggingHook if the function never imported it
    logging.warning(_UNHANDLED_WARNING)
    _report(error)
    api.post('/runtime/init/error', _dumps(error).encode(), error['errorType'])
    sys.exit(1)


# awslambdaric/lambda_literals.py: lambda_unhandled_exception_warning_message.
_UNHANDLED_WARNING = (
    'LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function code. '
    'However, in rare cases, a Lambda runtime update can cause unexpected function behavior. '
    'For functions using managed runtimes, runtime updates can be triggered by a function change, '
    'or can be applied automatically. To determine if the runtime has been updated, check the '
    'runtime version in the INIT_START log entry. If this error correlates with a change in the '
    'runtime version, you may be able to mitigate this error by temporarily rolling back to the '
    'previous runtime version. For more information, see '
    'https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\r')


def main():
    global _request_id, _tenant_id
    env = os.environ
    api = _RuntimeAPI(env['AWS_LAMBDA_RUNTIME_API'])

    # sys.path[0] is this script's directory; the function's code must come first.
    task_root = env.get('LAMBDA_TASK_ROOT') or os.getcwd()
    if not getattr(sys.flags, 'safe_path', False):
        del sys.path[0]
    sys.path[:] = [task_root] + [p for p in sys.path if p != task_root]

    # Reaching the Runtime API before the import tells ondol the runtime is up
    # (the cold start's "runtime ready" phase ends here).
    api._connect()
    slow = env.pop('_SLOW_INIT_MS', None)
    watchdog = _Watchdog(env['AWS_LAMBDA_RUNTIME_API'], int(slow), task_root) if slow else None
    if 'logging' in sys.modules:
        _setup_logging(sys.modules['logging'])
    else:
        sys.meta_path.insert(0, _LoggingHook)
    try:
        handler = _load_handler(env.get('_HANDLER', ''))
    except _Fault as f:
        _init_failed(api, _error(f.message, f.error_type, f.trace))
    except Exception as e:
        _init_failed(api, _error(str(e), type(e).__name__, _user_frames(e.__traceback__)))
    if watchdog is not None:
        watchdog.init_done()

    static = (env.get('AWS_LAMBDA_FUNCTION_NAME'), env.get('AWS_LAMBDA_FUNCTION_VERSION'),
              env.get('AWS_LAMBDA_FUNCTION_MEMORY_SIZE'),
              env.get('AWS_LAMBDA_LOG_GROUP_NAME'), env.get('AWS_LAMBDA_LOG_STREAM_NAME'))
    while True:
        status, headers, body = api.request('GET', '/runtime/invocation/next')
        if status != 200:
            raise ConnectionError('GET /runtime/invocation/next answered %d' % status)
        _request_id = headers.get('lambda-runtime-aws-request-id', '')
        _tenant_id = headers.get('lambda-runtime-aws-tenant-id')
        trace_id = headers.get('lambda-runtime-trace-id')
        if trace_id is None:
            env.pop('_X_AMZN_TRACE_ID', None)
        else:
            env['_X_AMZN_TRACE_ID'] = trace_id
        if watchdog is None:
            _invoke(api, handler, _request_id, headers, body, static)
            continue
        watchdog.invoking(_request_id, int(headers.get('lambda-runtime-deadline-ms') or 0))
        try:
            _invoke(api, handler, _request_id, headers, body, static)
        finally:
            watchdog.done()


if __name__ == '__main__':
    try:
        main()
    except OSError as e:
        sys.stderr.write('bootstrap: Runtime API %s unusable: %s\n'
                         % (os.environ.get('AWS_LAMBDA_RUNTIME_API'), e))
        sys.exit(1)
