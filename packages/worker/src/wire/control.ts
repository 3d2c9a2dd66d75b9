// Control records (join requests, step assignments, heartbeats) travel as msgpack in a 'control'
// frame; tensors never do (msgpack copies typed arrays). Decoding trusts nothing it receives.
import { Packr } from 'msgpackr';
import type { FrameRejection } from './frame.js';

// Plain maps and arrays only: no records, no structures shared between messages, no extensions.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

export function encodeControl(record: Record<string, unknown>): Uint8Array {
  return packr.pack(record);
}

/** The record a control body holds, or why it is not one (an object at the top level). */
export function decodeControl(body: Uint8Array): { record: Record<string, unknown> } | FrameRejection {
  let value: unknown;
  try {
    value = packr.unpack(body);
  } catch (error) {
    return { reason: 'malformed', detail: `control body is not msgpack (${(error as Error).message.slice(0, 80)})` };
  }
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) {
    return { reason: 'malformed', detail: 'control body is not a record' };
  }
  return { record: value as Record<string, unknown> };
}
