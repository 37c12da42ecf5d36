// Makes `import ... from 'offload/task'` (and 'offload') in a task module
// resolve to the offload that runs it, wherever the task lives: in a project
// of its own with no node_modules, in a directory mounted into a container,
// next to an installed copy of offload. The task then always shares the
// running offload's TaskError and types, never a second copy's.
//
// The same file is the module-resolution hook (resolve, initialize) and the
// code that installs it (resolveOffloadSpecifiers), because on Node 20 the
// asynchronous hooks run in a thread of their own that loads this file again.
// Plain JavaScript: it is loaded before any TypeScript loader exists.
import Module, { register } from 'node:module';
import { pathToFileURL } from 'node:url';

/** Specifier to the absolute path of the file it stands for. */
let targets = {};

/** Hook thread: receives the targets from resolveOffloadSpecifiers. */
export function initialize(data) {
  targets = data;
}

/** Works as a synchronous (registerHooks) and an asynchronous (register) resolve hook. */
export function resolve(specifier, context, nextResolve) {
  const file = Object.hasOwn(targets, specifier) ? targets[specifier] : undefined;
  return file === undefined ? nextResolve(specifier, context) : { url: pathToFileURL(file).href, shortCircuit: true };
}

/** Installs the resolution in this thread, for import and require alike. */
export function resolveOffloadSpecifiers(modules) {
  targets = modules;
  if (typeof Module.registerHooks === 'function') {
    // Node 22.15 and later: in-thread hooks that cover require() too.
    Module.registerHooks({ resolve });
    return;
  }
  // Node 20: an ESM hook for import, and require()'s resolver for CommonJS
  // tasks (tsx compiles a .ts task outside a "type": "module" package to CommonJS).
  register(import.meta.url, { data: modules });
  const original = Module._resolveFilename;
  Module._resolveFilename = function resolveFilename(request, ...rest) {
    return original.call(this, Object.hasOwn(targets, request) ? targets[request] : request, ...rest);
  };
}
