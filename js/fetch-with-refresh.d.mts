// Lets TypeScript find fetch-with-refresh.d.ts for `import ... from "./fetch-with-refresh.mjs"`.
export * from "./fetch-with-refresh.js";
