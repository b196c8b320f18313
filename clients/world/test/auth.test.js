import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createTokenSource } from '../lib/auth.js';

test('no token file means no Authorization header', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-sa-'));
  try {
    assert.equal(createTokenSource({ dir })(), undefined);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('the token is re-read when the file changes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-sa-'));
  let clock = 0;
  try {
    const file = join(dir, 'token');
    writeFileSync(file, 'first\n');
    utimesSync(file, 1000, 1000);
    const header = createTokenSource({ dir, now: () => clock });
    assert.equal(header(), 'Bearer first');

    writeFileSync(file, 'second');
    utimesSync(file, 2000, 2000);
    clock += 10;
    assert.equal(header(), 'Bearer first', 'stat is throttled');
    clock += 2000;
    assert.equal(header(), 'Bearer second', 'rotation is picked up');

    rmSync(file);
    clock += 2000;
    assert.equal(header(), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
