import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
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

/** Lays out `dir` as the kubelet does for a projected volume and returns a function that rotates it. */
function kubeletVolume(dir) {
  let generation = 0;
  return function publish(token) {
    generation += 1;
    const gen = `..2026_11_30_04_00_0${generation}.${generation}`;
    mkdirSync(join(dir, gen));
    const file = join(dir, gen, 'token');
    writeFileSync(file, token);
    utimesSync(file, 1000, 1000); // same mtime every time: only the inode tells them apart
    symlinkSync(gen, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data')); // the atomic swap
    if (generation === 1) symlinkSync(join('..data', 'token'), join(dir, 'token'));
    else rmSync(join(dir, `..2026_11_30_04_00_0${generation - 1}.${generation - 1}`), { recursive: true });
  };
}

test('a kubelet symlink swap is picked up, even with an unchanged mtime', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-sa-'));
  let clock = 0;
  try {
    const publish = kubeletVolume(dir);
    publish('gen-one');
    const header = createTokenSource({ dir, now: () => clock });
    assert.equal(header(), 'Bearer gen-one');

    publish('gen-two');
    clock += 2000;
    assert.equal(header(), 'Bearer gen-two');

    publish('gen-three');
    clock += 2000;
    assert.equal(header(), 'Bearer gen-three');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
