'use strict';
// Preloaded into NNI's Node.js manager with NODE_OPTIONS="--require /abs/path/nni_manager_preload.js"
// (eqnas/search/nni_adapter.py). Three jobs: bind to 127.0.0.1, stop with the parent, keep NNI's
// run list out of the home folder.
//
// NNI 3.0's manager calls listen(port) with no host (rest_server/index.js, and ws.Server({port})
// in the reusable training services), so Node listens on every interface ("::" / "0.0.0.0").
// This wraps net.Server.prototype.listen (which http.Server, https.Server, express's
// app.listen and ws.Server all go through) so that every TCP listen binds 127.0.0.1 instead:
//   listen()  listen(cb)  listen(port)  listen(port, cb)  listen(port, backlog, cb)
//   listen(port, host, ...)  listen({port, host, ...}, cb)
// A host that is not a loopback address (none, '', '0.0.0.0', '::', a LAN address, ...) is
// replaced by 127.0.0.1. Unix-socket paths, handles and fds are left alone (not TCP ports).
const net = require('net');

const LOOPBACK = '127.0.0.1';
const ALLOWED = new Set(['127.0.0.1', '::1']);  // 'localhost' is a name: it becomes 127.0.0.1 too
const originalListen = net.Server.prototype.listen;

function isPort(value) {
    if (typeof value === 'number') return true;
    // Node treats a string that converts to a number as a port, anything else as a pipe path.
    return typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value));
}

function forced(host) {
    if (typeof host === 'string' && ALLOWED.has(host)) return host;
    if (host !== undefined && host !== null && host !== '' && host !== 'localhost') {
        process.emitWarning(`nni_manager_preload: listen host ${JSON.stringify(host)} replaced by ${LOOPBACK}`);
    }
    return LOOPBACK;
}

function wrappedListen(...args) {
    const callback = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
    const first = args[0];
    let options = null;
    if (first === undefined || first === null) {
        options = { port: 0 };  // listen() / listen(cb) / listen(null, ...): a random port
    } else if (isPort(first)) {
        options = { port: Number(first) };
        let rest = args.slice(1);
        if (rest.length && (typeof rest[0] === 'string' || rest[0] === undefined || rest[0] === null)) {
            options.host = rest[0];  // listen(port, host[, backlog])
            rest = rest.slice(1);
        }
        if (rest.length && typeof rest[0] === 'number') options.backlog = rest[0];
    } else if (typeof first === 'object' && !('_handle' in first) && !('fd' in first)
               && !('handle' in first) && !('path' in first)) {
        options = { ...first };  // listen({port, host, ...})
    }
    if (options === null) {
        // A pipe path, a handle or an fd: not a TCP port on an interface.
        return originalListen.apply(this, callback ? [...args, callback] : args);
    }
    options.host = forced(options.host);
    return callback ? originalListen.call(this, options, callback) : originalListen.call(this, options);
}

// NNI_BIND_LOOPBACK=0 (eqnas sets it for remote and cluster platforms, whose workers must reach
// the manager) leaves listen alone.
if (process.env.NNI_BIND_LOOPBACK !== '0') {
    net.Server.prototype.listen = wrappedListen;
}

// Parent watchdog, for NNI's manager only (main.js; not for any node a trial may run): NNI starts
// the manager in its own process group and only stops it from Python (experiment.stop() or
// atexit). If the Python parent dies without that (SIGKILL, SIGTERM, a crash), the manager goes
// to status ERROR but keeps running, port open, with its trials. When this process is re-parented
// (the parent died), send ourselves SIGTERM: main.js's handler shuts down gracefully, which
// kills the trials (SIGINT, then SIGKILL after 5 s) and closes the port.
const isNniManager = /nni_node[\\/]main\.js$/.test(process.argv[1] || '');

if (isNniManager) {
    const parentPid = process.ppid;
    const parentGone = () => {
        if (process.ppid !== parentPid) return true;  // re-parented (a getter in Node 18/20)
        try { process.kill(parentPid, 0); return false; } catch (err) { return err.code === 'ESRCH'; }
    };
    const timer = setInterval(() => {
        if (parentGone()) {
            clearInterval(timer);
            process.emitWarning(`nni_manager_preload: parent ${parentPid} is gone; shutting NNI's manager down`);
            process.kill(process.pid, 'SIGTERM');
        }
    }, 1000);
    timer.unref();
}

// Optional, NNI's manager only: NNI_MANAGER_HOME=/some/dir makes the manager keep its run list in
// /some/dir/nni-experiments/.experiment instead of ~/nni-experiments/.experiment (os.homedir() is
// read only by common/globals/paths.js). Trials still get the real HOME: they inherit process.env.
if (isNniManager && process.env.NNI_MANAGER_HOME) {
    const home = process.env.NNI_MANAGER_HOME;
    require('os').homedir = () => home;
}
