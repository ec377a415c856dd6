// Types of Go's wasm_exec.js (copied from $(go env GOROOT)/lib/wasm by
// make wasm), as module.mjs uses it. With this file beside it, TypeScript
// resolves import("./wasm_exec.js") here and does not check Go's script.
export {};

declare global {
  /** An instance of Go's WebAssembly runtime support. */
  interface GoRuntime {
    argv: string[];
    env: Record<string, string>;
    importObject: WebAssembly.Imports;
    /** Runs the program; settles when it exits. */
    run(instance: WebAssembly.Instance): Promise<void>;
  }
  /** Defined by wasm_exec.js. */
  var Go: { new (): GoRuntime };
}
