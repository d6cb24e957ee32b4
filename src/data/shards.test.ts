// Shard writing when the disk fails: the three token streams each have an 'error' listener from
// the start, so a failure while another write is awaited is reported to the caller instead of
// killing the process (issue #13's audit of stream pipelines).
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { openShardWriter } from './shards.ts';

it('a shard writer whose folder cannot be written rejects on close and the process lives on', async () => {
  const missing = path.join(os.tmpdir(), `atelier-no-such-dir-${process.pid}`, 'shard');
  const writer = await openShardWriter(missing);
  await assert.rejects(writer.close(), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
  await assert.rejects(writer.add([1, 2], Buffer.from([1, 1])), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
});
