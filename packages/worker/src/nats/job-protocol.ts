// What a coordinator and its nodes say to each other over NATS: the subjects of a job, and the
// control records, each checked field by field on receipt (nothing received is trusted).
import type { JobId } from '../wire/frame.js';

/** Where coordinators announce their jobs to idle nodes. */
export const OFFERS_SUBJECT = 'dtrain.offers';

/** The sender number of a node that has not been numbered yet (its join request). */
export const UNNUMBERED = 0xffffffff;

/** The subjects of one job. */
export function jobSubjects(job: JobId) {
  return {
    /** Nodes ask to join here. */
    join: `dtrain.${job}.join`,
    /** The coordinator to one node (its key): welcome or refusal, and its work of each step. */
    node: (key: string) => `dtrain.${job}.node.${key}`,
    /** The coordinator's parameters of each step, to every node at once. */
    params: `dtrain.${job}.params`,
    /** Nodes' block results, heartbeats, requests and leaving. */
    results: `dtrain.${job}.results`,
    /** The coordinator's heartbeat and end of the job, to every node. */
    beat: `dtrain.${job}.beat`,
  };
}

/** What a node says of itself when it asks to join. */
export interface JoinRequest {
  t: 'join';
  /** Random, chosen by the node: the subject the coordinator answers it on. */
  key: string;
  name: string;
  version: string;
  wire: number;
  /** Which CPU kernels it computes with (its result for a probe block is what decides). */
  kernels: string;
  threads: number;
  /** sha256 (hex) of the training data the node holds a copy of, if it does (see trainingDigest). */
  data?: string;
  /** Where it computes shards: absent, the CPU kernels; 'webgpu', its threads' WebGPU devices. */
  device?: 'webgpu';
}

/** What a numbered node is told about the job: all it needs to compute any block of any step. */
export interface Welcome {
  t: 'welcome';
  key: string;
  sender: number;
  /** The model spec, a JSON value the node validates before it builds anything. */
  spec: unknown;
  seed: number;
  shards: number;
  shardSize: number;
  paramSize: number;
  /** Milliseconds between heartbeats, each way. */
  beatMs: number;
  /** Whether the node's copy of the training data is the run's: its work then names samples by index. */
  localData: boolean;
}

export type ControlRecord =
  | { t: 'offer'; version: string; wire: number }
  | JoinRequest
  | Welcome
  | { t: 'refuse'; key: string; reason: string }
  /**
   * Heartbeat; a node's says which step it is at (-1 when idle); the coordinator's lists the nodes
   * in the job (one not listed was dropped, and joins again).
   */
  | { t: 'beat'; step: number; nodes?: number[] }
  /** A node asks for the parameters of its header's step again (they were lost). */
  | { t: 'resend' }
  | { t: 'leave'; reason: string }
  | { t: 'end'; reason: string };

const isNat = (v: unknown, max = 0xffffffff): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
const isText = (v: unknown, max = 200): v is string => typeof v === 'string' && v.length <= max;
const isKey = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{32}$/.test(v);

/** A decoded control body as one of the records above, or why it is not one. */
export function asControlRecord(value: Record<string, unknown>): ControlRecord | string {
  const v = value;
  switch (v.t) {
    case 'offer':
      return isText(v.version, 40) && isNat(v.wire) ? { t: 'offer', version: v.version, wire: v.wire } : 'bad offer';
    case 'join':
      if (!isKey(v.key) || !isText(v.name, 100) || !isText(v.version, 40) || !isNat(v.wire)) return 'bad join';
      if (!isText(v.kernels, 40) || !isNat(v.threads, 1024) || v.threads === 0) return 'bad join';
      if (v.data !== undefined && !(typeof v.data === 'string' && /^[0-9a-f]{64}$/.test(v.data))) return 'bad join';
      if (v.device !== undefined && v.device !== 'webgpu') return 'bad join';
      return {
        t: 'join',
        key: v.key,
        name: v.name,
        version: v.version,
        wire: v.wire,
        kernels: v.kernels,
        threads: v.threads,
        ...(v.data === undefined ? {} : { data: v.data }),
        ...(v.device === undefined ? {} : { device: v.device }),
      };
    case 'welcome': {
      const numbers = [v.sender, v.seed, v.shards, v.shardSize, v.paramSize, v.beatMs];
      if (!isKey(v.key) || !numbers.every((n) => isNat(n)) || v.spec === undefined) return 'bad welcome';
      if (typeof v.localData !== 'boolean') return 'bad welcome';
      return v as unknown as Welcome;
    }
    case 'refuse':
      return isKey(v.key) && isText(v.reason, 1000) ? { t: 'refuse', key: v.key, reason: v.reason } : 'bad refusal';
    case 'beat':
      return typeof v.step === 'number' && Number.isInteger(v.step) && v.step >= -1
        ? { t: 'beat', step: v.step }
        : 'bad beat';
    case 'resend':
      return { t: 'resend' };
    case 'leave':
    case 'end':
      return isText(v.reason, 1000) ? { t: v.t, reason: v.reason } : `bad ${v.t}`;
    default:
      return `unknown control record ${JSON.stringify(String(v.t)).slice(0, 40)}`;
  }
}
