import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataFormatError, io, manualSeed, nn, optim, randn, StateDictError, tensor, zeros } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'dtrain-io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('safetensors encoding', () => {
  it('round-trips float32, float64 and int32 tensors with metadata, in order', () => {
    const tensors = {
      b: tensor([
        [1.5, -2],
        [3, 4],
      ]),
      a: tensor([7, -8], { dtype: 'int32' }),
      c: tensor(0.25, { dtype: 'float64' }),
    };
    const bytes = io.encodeSafetensors(tensors, { format: 'pt' });
    const back = io.decodeSafetensors(bytes, 'mem');
    expect(Object.keys(back.tensors)).toEqual(['b', 'a', 'c']);
    expect(back.metadata).toEqual({ format: 'pt' });
    for (const [k, t] of Object.entries(tensors)) {
      expect(back.tensors[k].dtype).toBe(t.dtype);
      expect(back.tensors[k].shape).toEqual(t.shape);
      expect(back.tensors[k].toArray()).toEqual(t.toArray());
    }
  });

  it('lays out the file as the format says: u64 header size, JSON header padded to 8 bytes, data', () => {
    const bytes = io.encodeSafetensors({ w: tensor([1, 2]) });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header).toEqual({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
    expect(Array.from(new Float32Array(bytes.slice(8 + n).buffer))).toEqual([1, 2]);
  });

  it('reads the half-precision and int64 dtypes PyTorch may write', () => {
    const header = JSON.stringify({
      h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] },
      b: { dtype: 'BF16', shape: [1], data_offsets: [4, 6] },
      i: { dtype: 'I64', shape: [1], data_offsets: [6, 14] },
    });
    const head = new TextEncoder().encode(header);
    const bytes = new Uint8Array(8 + head.length + 14);
    const view = new DataView(bytes.buffer);
    view.setBigUint64(0, BigInt(head.length), true);
    bytes.set(head, 8);
    const d = 8 + head.length;
    view.setUint16(d, 0x3c00, true); // 1.0
    view.setUint16(d + 2, 0xc000, true); // -2.0
    view.setUint16(d + 4, 0x3fc0, true); // bf16 1.5
    view.setBigInt64(d + 6, 42n, true);
    const t = io.decodeSafetensors(bytes, 'mem').tensors;
    expect(t.h.toArray()).toEqual([1, -2]);
    expect(t.b.toArray()).toEqual([1.5]);
    expect(t.i.dtype).toBe('int32');
    expect(t.i.toArray()).toEqual([42]);
  });

  it('malformed files are one clear error naming the source', () => {
    expect(() => io.decodeSafetensors(new Uint8Array(4), 'f.st')).toThrow(DataFormatError);
    const bytes = io.encodeSafetensors({ w: tensor([1, 2, 3]) });
    expect(() => io.decodeSafetensors(bytes.subarray(0, bytes.length - 4), 'f.st')).toThrow(
      /f.st: .*tensor "w": data_offsets \[0, 12\] do not hold 3 F32 values within 8 data bytes/,
    );
    const huge = bytes.slice();
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    expect(() => io.decodeSafetensors(huge, 'f.st')).toThrow(/header length .* exceeds the file size/);
  });
});

describe('files and checkpoints', () => {
  it('a write that fails names the path and leaves no temporary file', async () => {
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, 'x');
    await expect(io.writeFileAtomic(join(blocker, 'model.safetensors'), 'data')).rejects.toThrow(
      `${join(blocker, 'model.safetensors')}: cannot write it (`,
    );
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('saves and loads a safetensors file, leaving no temporary files', async () => {
    const path = join(dir, 'w.safetensors');
    await io.saveSafetensors(path, { x: tensor([1, 2, 3]) });
    expect((await io.loadSafetensors(path)).x.toArray()).toEqual([1, 2, 3]);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('a missing file is a clear error', async () => {
    await expect(io.loadSafetensors(join(dir, 'none.safetensors'))).rejects.toThrow(
      /none.safetensors: cannot read \(no such file\)/,
    );
  });

  it('a failed write leaves the previous file intact', async () => {
    const path = join(dir, 'keep.safetensors');
    await io.saveSafetensors(path, { x: tensor([1]) });
    const before = readFileSync(path);
    const poisoned = {
      x: {
        dataSync: () => {
          throw new Error('boom');
        },
      },
    } as never;
    await expect(io.saveSafetensors(path, poisoned)).rejects.toThrow('boom');
    expect(readFileSync(path)).toEqual(before);
  });

  it('a checkpoint restores model, BatchNorm running stats and optimizer: training continues identically', async () => {
    manualSeed(1);
    const make = () =>
      new nn.Sequential(new nn.Linear(3, 4), new nn.BatchNorm1d(4), new nn.ReLU(), new nn.Linear(4, 2));
    const x = randn([8, 3]);
    const y = randn([8, 2]);
    const train = (model: nn.Module, opt: optim.Optimizer, steps: number) => {
      for (let i = 0; i < steps; i++) {
        opt.zeroGrad();
        model.forward(x).sub(y).pow(2).mean().backward();
        opt.step();
      }
    };
    const a = make();
    const oa = new optim.AdamW(a.parameters(), { lr: 0.01 });
    train(a, oa, 3);
    const ckpt = join(dir, 'ckpt');
    await io.saveCheckpoint(ckpt, { model: a.stateDict(), optimizer: oa.stateDict(), meta: { step: 3 } });
    expect(readdirSync(ckpt).sort()).toEqual(['checkpoint.json', 'model.safetensors', 'optimizer.safetensors']);

    const b = make();
    const ob = new optim.AdamW(b.parameters(), { lr: 0.5 });
    const loaded = await io.loadCheckpoint(ckpt);
    b.loadStateDict(loaded.model);
    ob.loadStateDict(loaded.optimizer!);
    expect(loaded.meta).toEqual({ step: 3 });
    train(a, oa, 2);
    train(b, ob, 2);
    for (const [k, t] of Object.entries(a.stateDict())) expect(b.stateDict()[k].toArray()).toEqual(t.toArray());
  });

  it('a directory without checkpoint.json is not a checkpoint', async () => {
    const d = join(dir, 'partial');
    await io.saveSafetensors(join(d, 'model.safetensors'), { x: zeros([1]) });
    await expect(io.loadCheckpoint(d)).rejects.toThrow(/not a complete checkpoint/);
    expect(existsSync(join(d, 'checkpoint.json'))).toBe(false);
  });

  it('a state dict with a wrong shape is rejected naming the key', async () => {
    const path = join(dir, 'wrong.safetensors');
    await io.saveSafetensors(path, { weight: zeros([2, 2]), bias: zeros([2]) });
    await expect(io.loadSafetensors(path).then((s) => new nn.Linear(3, 2).loadStateDict(s))).rejects.toThrow(
      StateDictError,
    );
    await expect(io.loadSafetensors(path).then((s) => new nn.Linear(3, 2).loadStateDict(s))).rejects.toThrow(
      /"weight": shape \[2, 2\]/,
    );
  });

  it('corrupt bytes on disk name the file', async () => {
    const path = join(dir, 'junk.safetensors');
    writeFileSync(path, 'not safetensors at all');
    await expect(io.loadSafetensors(path)).rejects.toThrow(path);
  });
});
