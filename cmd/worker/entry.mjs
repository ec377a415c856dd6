// The Worker's main module (wrangler.toml `main`): the Go program's glue,
// generated into build/worker by `make worker`, and the Durable Object
// class that coordinates refreshes across requests (absorb-object.mjs).
export { default } from "../../build/worker/worker.mjs";
export { AbsorbObject } from "./absorb-object.mjs";
