// Only for `make test-types` (tsc with checkJs on the loader): the global
// that Go's wasm_exec.js defines. Not part of the package's types.
export {};
declare global {
  var Go: new () => {
    argv: string[];
    importObject: WebAssembly.Imports;
    run(instance: WebAssembly.Instance): Promise<void>;
  };
}
