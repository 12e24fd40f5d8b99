#!/usr/bin/env node
// Checks that both engines did the same job: reads each engine's last output with sharp and prints
// its format, dimensions, frame count, alpha, size (and, for WebP, whether it is lossy), then
// whether the two agree on format, dimensions and frame count.
//
// Usage: node check-outputs.js CORPUS DIR IMAGE... — DIR holds IMAGE.avatard and IMAGE.sharp for
// each IMAGE (a file in CORPUS). Writes DIR/check.json: { IMAGE: { same: bool, note: string,
// input: "what the input is" } }.
'use strict';

const fs = require('fs');
const path = require('path');
const sharp = require('sharp');

const [corpus, dir, ...images] = process.argv.slice(2);

// The first chunk of a WebP says how it is coded: VP8 lossy, VP8L lossless, VP8X extended (the
// animation frames' own chunks then say it).
function webpCoding(bytes) {
  const s = bytes.toString('latin1');
  if (s.includes('VP8L') && !s.includes('VP8 ')) return 'lossless';
  if (s.includes('VP8 ') && !s.includes('VP8L')) return 'lossy';
  return s.includes('VP8 ') ? 'lossy+lossless' : 'unknown';
}

async function describe(file) {
  if (!fs.existsSync(file)) return null;
  const bytes = fs.readFileSync(file);
  const m = await sharp(bytes, { animated: true }).metadata();
  return {
    format: m.format === 'heif' ? (m.compression || 'heif') : m.format,
    width: m.width,
    height: m.pageHeight || m.height,
    frames: m.pages || 1,
    alpha: m.hasAlpha,
    bytes: bytes.length,
    coding: m.format === 'webp' ? webpCoding(bytes) : '',
  };
}

async function main() {
  const verdicts = {};
  const rows = [['image', 'engine', 'format', 'size', 'frames', 'alpha', 'bytes']];
  for (const image of images) {
    const ours = await describe(path.join(dir, `${image}.avatard`));
    const theirs = await describe(path.join(dir, `${image}.sharp`));
    for (const [engine, d] of [['avatard', ours], ['sharp', theirs]]) {
      rows.push(d
        ? [image, engine, d.format + (d.coding ? ` (${d.coding})` : ''), `${d.width}×${d.height}`, String(d.frames),
          d.alpha ? 'yes' : 'no', String(d.bytes)]
        : [image, engine, 'no output', '', '', '', '']);
    }
    const differences = [];
    if (!ours || !theirs) {
      differences.push('an engine produced no output');
    } else {
      if (ours.format !== theirs.format) differences.push(`format ${ours.format} vs ${theirs.format}`);
      if (ours.width !== theirs.width || ours.height !== theirs.height) {
        differences.push(`size ${ours.width}×${ours.height} vs ${theirs.width}×${theirs.height}`);
      }
      if (ours.frames !== theirs.frames) differences.push(`frames ${ours.frames} vs ${theirs.frames}`);
      if (ours.coding !== theirs.coding) differences.push(`WebP ${ours.coding} vs ${theirs.coding}`);
    }
    const input = await describe(path.join(corpus, image));
    const orientation = (await sharp(path.join(corpus, image)).metadata()).orientation;
    verdicts[image] = {
      same: differences.length === 0,
      note: differences.join('; '),
      input: `${input.width}×${input.height} ${input.format.toUpperCase()}` +
        (input.coding ? ` ${input.coding}` : '') +
        // libvips reads every GIF as RGBA; say "alpha" only where the format stores a channel.
        (input.alpha && input.format !== 'gif' ? ' with alpha' : '') +
        (input.frames > 1 ? `, ${input.frames} frames` : '') + (orientation > 1 ? `, EXIF orientation ${orientation}` : ''),
    };
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(r.map((c, i) => (i === 6 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  '));
  console.log();
  for (const image of images) {
    const v = verdicts[image];
    console.log(`${image}: ${v.same ? 'same job (format, size and frames agree)' : `NOT the same job: ${v.note}`}`);
  }
  fs.writeFileSync(path.join(dir, 'check.json'), JSON.stringify(verdicts));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
