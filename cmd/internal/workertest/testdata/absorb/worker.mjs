// A test Worker that exposes the AbsorbObject class over HTTP, so that the
// Go client (cmd/internal/absorb/dostore) can be tested against the real
// object under the local runtime: POST /{key}/{op} goes to op of key's
// object; POST /{key}/evict resets that object as an eviction would (its
// memory is lost, its storage kept).
import { AbsorbObject } from "../../../../worker/absorb-object.mjs";

export class TestAbsorbObject extends AbsorbObject {
  async fetch(request) {
    if (new URL(request.url).pathname === "/evict") {
      this.state.abort("evicted by the test");
    }
    return super.fetch(request);
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const [, key, op] = url.pathname.split("/");
    if (!key || !op) {
      return new Response("POST /{key}/{op}\n", { status: 404 });
    }
    const stub = env.ABSORB.get(env.ABSORB.idFromName(key));
    try {
      return await stub.fetch(new Request("https://absorb.invalid/" + op, request));
    } catch (err) {
      // The reset object's caller: the runtime throws, as after an eviction.
      return new Response(JSON.stringify({ error: "object_reset", message: String(err) }), { status: 502 });
    }
  },
};
