// The seed's hand-written wrapper, replaced by the package: the same
// export, now one refresh however many calls wait, each call replayed
// once. Browser only (effects, event handlers): the module runs in the page.
import { load } from "fetch-with-refresh";

let client;

/** The loaded client, started on first use. */
export function getClient() {
  client ??= load({
    onAuthFailure: () => window.location.assign("/login"),
  });
  return client;
}

/** fetch with a refresh on 401: same arguments and answer as fetch. */
export async function fetchWithRefresh(input, init) {
  return (await getClient()).fetchWithRefresh(input, init);
}
