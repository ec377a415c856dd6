// A test Worker that exposes the AbsorbObject class over HTTP, so that the
// Go client (bff/absorb/dostore) can be tested against the real
// object under the local runtime: POST /{key}/{op} goes to op of key's
// object; POST /{key}/evict resets that object as an eviction would (its
// memory is lost, its storage kept); POST /{key}/waiters answers how many
// callers wait in it; POST /{key}/stored lists the keys of its storage.
import { AbsorbObject } from "../../../../../cmd/worker/absorb-object.mjs";

export class TestAbsorbObject extends AbsorbObject {
  async fetch(request) {
    const body = await request.text();
    switch (new URL(request.url).pathname) {
      case "/evict":
        this.state.abort("evicted by the test");
        break;
      case "/waiters":
        return Response.json({ waiters: this.waiters.length });
      case "/stored":
        return Response.json({ keys: [...(await this.state.storage.list()).keys()] });
    }
    return super.fetch(new Request(request.url, { method: request.method, body: body || null }));
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") {
      return new Response("ok\n");
    }
    const [, key, op] = url.pathname.split("/");
    if (!key || !op) {
      return new Response("POST /{key}/{op}\n", { status: 404 });
    }
    const stub = env.ABSORB.get(env.ABSORB.idFromName(key));
    try {
      const body = request.method === "GET" ? null : await request.text();
      return await stub.fetch("https://absorb.invalid/" + op, { method: request.method, body });
    } catch (err) {
      // The reset object's caller: the runtime throws, as after an eviction.
      return new Response(JSON.stringify({ error: "object_reset", message: String(err) }), { status: 502 });
    }
  },
};
