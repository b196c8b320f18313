// Hooks: a custom token resumed several times, token conflicts, webhooks.
import { createHook, createWebhook } from 'workflow';

/** Collects `count` payloads sent to `token`; reports a token conflict instead of failing. */
export async function hookCollector(token, count) {
  'use workflow';
  const hook = createHook({ token });
  const payloads = [];
  try {
    for await (const payload of hook) {
      payloads.push(payload);
      if (payloads.length >= count) break;
    }
  } catch (err) {
    return { conflict: true, errorName: err?.name, message: String(err?.message) };
  }
  return { conflict: false, payloads };
}

/** Waits for one HTTP call on its webhook URL and reports what arrived. */
export async function webhookOnce() {
  'use workflow';
  const webhook = createWebhook();
  const request = await webhook;
  const body = await request.text();
  return { method: request.method, body };
}
