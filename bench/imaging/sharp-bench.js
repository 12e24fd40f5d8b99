#!/usr/bin/env node
// The sharp side of the imaging benchmark: the avatar job on one input file, timed.
//
// Usage: node sharp-bench.js INPUT ITERATIONS [WARMUP] [OUTPUT]
//
// The job, as avatard's pipeline does it (crates/avatard-imaging/src/avatar.rs): decode (every frame
// of an animation), turn upright by the EXIF orientation, square to 200×200 ("cover" for opaque
// images, "contain" on a transparent square for images with alpha, as resize.rs decides), and encode
// in the input's format (SVG becomes PNG) with sharp's defaults (JPEG quality 80, lossy WebP
// quality 80). The input bytes are read once, as our binary does; each iteration starts from them.
//
// Prints one line of JSON: the engine's versions, the settings, the wall time of each iteration in
// ms (after WARMUP untimed runs, default 2) and the process's peak RSS in KiB (getrusage ru_maxrss).
// OUTPUT, if given, receives the last iteration's output.
'use strict';

const fs = require('fs');
const sharp = require('sharp');

const [input, iterationsArg, warmupArg, output] = process.argv.slice(2);
if (!input || !iterationsArg) {
  console.error('usage: node sharp-bench.js INPUT ITERATIONS [WARMUP] [OUTPUT]');
  process.exit(2);
}
const iterations = Number(iterationsArg);
const warmup = warmupArg === undefined ? 2 : Number(warmupArg);
const SIZE = 200;

async function main() {
  const bytes = fs.readFileSync(input);
  // Decided once, outside the timing, from what the decoder yields. Our pipeline squares images with
  // an alpha channel "contain" and the rest "cover"; its GIF and SVG decoders always yield RGBA.
  const meta = await sharp(bytes).metadata();
  const format = meta.format; // jpeg, png, gif, webp, svg
  const contain = meta.hasAlpha || format === 'gif' || format === 'svg';
  const fit = contain ? 'contain' : 'cover';

  const job = () => {
    let pipeline = sharp(bytes, { animated: true })
      .rotate()
      .resize(SIZE, SIZE, contain ? { fit, background: { r: 0, g: 0, b: 0, alpha: 0 } } : { fit });
    switch (format) {
      case 'jpeg':
        pipeline = pipeline.jpeg(); // quality 80
        break;
      case 'gif':
        pipeline = pipeline.gif();
        break;
      case 'webp':
        pipeline = pipeline.webp(); // lossy, quality 80
        break;
      case 'png':
      case 'svg':
        pipeline = pipeline.png();
        break;
      default:
        throw new Error(`unexpected input format ${format}`);
    }
    return pipeline.toBuffer();
  };

  let out;
  for (let i = 0; i < warmup; i++) out = await job();
  const times = [];
  for (let i = 0; i < iterations; i++) {
    const started = process.hrtime.bigint();
    out = await job();
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  if (output && out) fs.writeFileSync(output, out);
  process.stdout.write(JSON.stringify({
    engine: 'sharp',
    version: `sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}`,
    concurrency: sharp.concurrency(),
    simd: sharp.simd(),
    input,
    input_format: format,
    fit,
    warmup,
    output_bytes: out ? out.length : 0,
    times_ms: times,
    max_rss_kib: process.resourceUsage().maxRSS,
  }) + '\n');
}

main().catch((err) => {
  console.error(`sharp-bench: ${input}: ${err.message}`);
  process.exit(1);
});
