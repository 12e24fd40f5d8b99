#!/usr/bin/env node
// Generates the benchmark corpus into corpus/ (or the directory given as the first argument):
//
//   photo.jpg     4000×3000 photo-like noise, quality 92, 4:2:0, baseline, EXIF Orientation 6
//   alpha.png     4000×4000 RGBA: soft-edged textured shapes and an alpha ramp on transparency
//   animated.gif  400×400, 100 frames of a moving scene, per-frame delays
//   large.webp    4000×3000 photo-like noise (another seed), lossy quality 85
//   logo.svg      viewBox 1000×1000: gradients, paths, a few hundred elements, no text or links
//
// Deterministic: every pixel comes from a seeded PRNG, and the files are encoded by the sharp
// (libvips) version package-lock.json pins, so the same lock gives the same bytes. Prints each
// file's size and dimensions. Usage: node gen-corpus.js [DIR] (existing files are overwritten).
'use strict';

const fs = require('fs');
const path = require('path');
const sharp = require('sharp');

const dir = path.resolve(process.argv[2] || path.join(__dirname, 'corpus'));
fs.mkdirSync(dir, { recursive: true });

// xorshift32: small, fast, and the same sequence on every machine.
function prng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

// Multi-octave value noise, bilinearly interpolated, amplitude falling with the cell size (about a
// 1/f spectrum, as in natural images), into a Float32Array of width×height×3 centred on 0.
function valueNoise(width, height, rnd, octaves) {
  const buf = new Float32Array(width * height * 3);
  for (const [cell, amp] of octaves) {
    const gw = Math.ceil(width / cell) + 2;
    const gh = Math.ceil(height / cell) + 2;
    const grid = new Float32Array(gw * gh * 3);
    for (let i = 0; i < grid.length; i++) grid[i] = (rnd() * 2 - 1) * amp;
    const x0s = new Int32Array(width);
    const txs = new Float32Array(width);
    for (let x = 0; x < width; x++) {
      const fx = x / cell;
      x0s[x] = Math.floor(fx);
      txs[x] = fx - x0s[x];
    }
    for (let y = 0; y < height; y++) {
      const fy = y / cell;
      const y0 = Math.floor(fy);
      const ty = fy - y0;
      const row0 = y0 * gw * 3;
      const row1 = (y0 + 1) * gw * 3;
      let o = y * width * 3;
      for (let x = 0; x < width; x++) {
        const tx = txs[x];
        const g = x0s[x] * 3;
        for (let c = 0; c < 3; c++, o++) {
          const top = grid[row0 + g + c] * (1 - tx) + grid[row0 + g + 3 + c] * tx;
          const bottom = grid[row1 + g + c] * (1 - tx) + grid[row1 + g + 3 + c] * tx;
          buf[o] += top * (1 - ty) + bottom * ty;
        }
      }
    }
  }
  return buf;
}

const clamp8 = (v) => (v < 0 ? 0 : v > 255 ? 255 : v);
const smoothstep = (e0, e1, v) => {
  const t = Math.min(1, Math.max(0, (v - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
};

// A photo-like RGB image: a vertical light gradient ("sky" over "ground"), noise from 500 px
// blotches down to 2 px texture, and per-pixel grain like a camera sensor's.
function photo(width, height, seed) {
  const rnd = prng(seed);
  const noise = valueNoise(width, height, rnd, [[500, 90], [125, 50], [31, 30], [8, 18], [2, 10]]);
  const out = Buffer.alloc(width * height * 3);
  const tint = [[30, 10, -20], [-10, 5, 35]]; // warm at the bottom, cool at the top
  for (let y = 0; y < height; y++) {
    const t = y / (height - 1);
    for (let x = 0, o = y * width * 3; x < width; x++) {
      for (let c = 0; c < 3; c++, o++) {
        const base = 128 + tint[1][c] * (1 - t) + tint[0][c] * t;
        out[o] = clamp8(base + noise[o] + (rnd() - 0.5) * 12);
      }
    }
  }
  return out;
}

// A 4000×4000 RGBA image: textured blobs with soft edges (alpha falling off over tens to
// hundreds of pixels), composited over each other on a transparent background, plus a band whose
// alpha ramps from 0 to 255 across the image.
function alphaImage(size, seed) {
  const rnd = prng(seed);
  const texture = valueNoise(size, size, rnd, [[400, 60], [100, 35], [25, 20], [6, 10]]);
  // Premultiplied accumulation, then un-premultiplied once at the end.
  const acc = new Float32Array(size * size * 4);
  const over = (o, r, g, b, a) => {
    const keep = 1 - a;
    acc[o] = r * a + acc[o] * keep;
    acc[o + 1] = g * a + acc[o + 1] * keep;
    acc[o + 2] = b * a + acc[o + 2] * keep;
    acc[o + 3] = a + acc[o + 3] * keep;
  };
  // The alpha ramp: a horizontal band across the lower third, a colour gradient left to right.
  const bandTop = Math.round(size * 0.62);
  const bandBottom = Math.round(size * 0.8);
  for (let y = bandTop; y < bandBottom; y++) {
    const edge = smoothstep(0, 80, y - bandTop) * smoothstep(0, 80, bandBottom - y);
    for (let x = 0; x < size; x++) {
      const t = x / (size - 1);
      const i = y * size + x;
      over(i * 4, 40 + 200 * t + texture[i * 3], 90 + texture[i * 3 + 1], 220 - 180 * t + texture[i * 3 + 2], t * edge);
    }
  }
  // Soft ellipses: random centre, radii, colour, opacity and edge softness.
  for (let n = 0; n < 14; n++) {
    const cx = size * (0.15 + 0.7 * rnd());
    const cy = size * (0.15 + 0.7 * rnd());
    const rx = size * (0.06 + 0.2 * rnd());
    const ry = rx * (0.5 + rnd());
    const soft = 20 + 180 * rnd();
    const colour = [255 * rnd(), 255 * rnd(), 255 * rnd()];
    const opacity = 0.55 + 0.45 * rnd();
    const x0 = Math.max(0, Math.floor(cx - rx - soft));
    const x1 = Math.min(size, Math.ceil(cx + rx + soft));
    const y0 = Math.max(0, Math.floor(cy - ry - soft));
    const y1 = Math.min(size, Math.ceil(cy + ry + soft));
    for (let y = y0; y < y1; y++) {
      const dy = (y - cy) / ry;
      for (let x = x0; x < x1; x++) {
        const dx = (x - cx) / rx;
        // Approximate distance outside the ellipse in pixels.
        const d = (Math.sqrt(dx * dx + dy * dy) - 1) * Math.min(rx, ry);
        const a = opacity * (1 - smoothstep(-soft, soft, d));
        if (a <= 0) continue;
        const i = y * size + x;
        const shade = 0.75 + 0.25 * (1 - Math.hypot(dx, dy)); // a little radial light
        over(i * 4, colour[0] * shade + texture[i * 3], colour[1] * shade + texture[i * 3 + 1],
          colour[2] * shade + texture[i * 3 + 2], a);
      }
    }
  }
  const out = Buffer.alloc(size * size * 4);
  for (let o = 0; o < out.length; o += 4) {
    const a = acc[o + 3];
    if (a > 0) {
      out[o] = clamp8(acc[o] / a);
      out[o + 1] = clamp8(acc[o + 1] / a);
      out[o + 2] = clamp8(acc[o + 2] / a);
      out[o + 3] = clamp8(a * 255 + 0.5);
    }
  }
  return out;
}

// 100 frames of 400×400: a sky whose colours drift, a sun crossing it, hills scrolling past and a
// bouncing ball with its shadow; opaque. Frames stacked vertically for sharp's raw.pageHeight.
function gifFrames(size, frames, seed) {
  const rnd = prng(seed);
  const hills = Array.from({ length: 6 }, () => [rnd() * 0.04 + 0.01, rnd() * Math.PI * 2, rnd() * 30 + 10]);
  const speckles = Array.from({ length: 400 }, () => [rnd() * size * 4, size * (0.7 + 0.3 * rnd()), rnd() * 40]);
  const out = Buffer.alloc(size * size * frames * 3);
  for (let f = 0; f < frames; f++) {
    const t = f / frames;
    const sunX = size * (0.1 + 0.8 * t);
    const sunY = size * (0.35 - 0.2 * Math.sin(Math.PI * t));
    const ballX = size * (0.5 + 0.35 * Math.sin(2 * Math.PI * t * 3));
    const ballY = size * 0.78 - Math.abs(Math.sin(2 * Math.PI * t * 4)) * size * 0.4;
    const scroll = f * 6;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const o = ((f * size + y) * size + x) * 3;
        const v = y / size;
        // Sky: a vertical gradient whose hue drifts over the animation.
        let r = 60 + 120 * v + 60 * Math.sin(2 * Math.PI * t);
        let g = 110 + 80 * v;
        let b = 230 - 60 * v - 40 * Math.sin(2 * Math.PI * t);
        const sun = Math.hypot(x - sunX, y - sunY);
        if (sun < 60) {
          const k = 1 - smoothstep(30, 60, sun);
          r += (255 - r) * k;
          g += (220 - g) * k;
          b += (120 - b) * k;
        }
        // Hills: a sum of sines, scrolling left.
        let ground = size * 0.65;
        for (const [freq, phase, amp] of hills) ground += amp * Math.sin((x + scroll) * freq + phase);
        if (y > ground) {
          const depth = (y - ground) / size;
          r = 40 + 60 * depth;
          g = 120 - 50 * depth + 20 * Math.sin((x + scroll) * 0.2) * Math.sin(y * 0.3);
          b = 50;
        }
        // Ball shadow and ball.
        const shadow = Math.hypot((x - ballX) / 2.2, y - size * 0.86);
        if (shadow < 12) {
          r *= 0.6;
          g *= 0.6;
          b *= 0.6;
        }
        const ball = Math.hypot(x - ballX, y - ballY);
        if (ball < 28) {
          const light = 1 - Math.hypot(x - ballX + 10, y - ballY + 10) / 50;
          const stripe = Math.sin((x - ballX) * 0.4 + f * 0.5) > 0 ? 1 : 0.7;
          r = 230 * stripe * (0.5 + light);
          g = 60 * (0.5 + light);
          b = 70 * stripe * (0.5 + light);
        }
        out[o] = clamp8(r);
        out[o + 1] = clamp8(g);
        out[o + 2] = clamp8(b);
      }
    }
    // Flowers in the grass, scrolling with the hills.
    for (const [sx, sy, hue] of speckles) {
      const x = Math.round(((sx - scroll) % (size * 4) + size * 4) % (size * 4));
      if (x >= size - 2) continue;
      for (let dy = 0; dy < 2; dy++) {
        for (let dx = 0; dx < 2; dx++) {
          const o = ((f * size + Math.min(size - 1, Math.round(sy) + dy)) * size + x + dx) * 3;
          out[o] = 200 + hue;
          out[o + 1] = 180 - hue;
          out[o + 2] = 60 + hue * 4;
        }
      }
    }
  }
  const delays = Array.from({ length: frames }, (_, f) => (f % 10 === 9 ? 120 : f % 3 === 0 ? 60 : 40));
  return { pixels: out, delays };
}

// A logo/illustration as an SVG author would write it: gradients in <defs>, a badge, rings of
// petals (cubic Béziers), scattered dots, wavy strokes, stars and a few groups with transforms and
// opacity. No text, no images, no external references. Transparent outside the badge.
function logoSvg(seed) {
  const rnd = prng(seed);
  const f = (v) => Number(v.toFixed(1));
  const colour = () => `#${[0, 0, 0].map(() => Math.floor(rnd() * 256).toString(16).padStart(2, '0')).join('')}`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="1000" viewBox="0 0 1000 1000">',
    '  <defs>',
  ];
  for (let i = 0; i < 8; i++) {
    lines.push(`    <linearGradient id="lg${i}" x1="0" y1="0" x2="${f(rnd())}" y2="1">`,
      `      <stop offset="0" stop-color="${colour()}"/>`,
      `      <stop offset="0.5" stop-color="${colour()}" stop-opacity="0.8"/>`,
      `      <stop offset="1" stop-color="${colour()}"/>`,
      '    </linearGradient>');
  }
  for (let i = 0; i < 4; i++) {
    lines.push(`    <radialGradient id="rg${i}" cx="0.5" cy="0.5" r="0.5" fx="${f(0.3 + 0.2 * rnd())}" fy="${f(0.3 + 0.2 * rnd())}">`,
      `      <stop offset="0" stop-color="${colour()}"/>`,
      `      <stop offset="0.7" stop-color="${colour()}"/>`,
      `      <stop offset="1" stop-color="${colour()}" stop-opacity="0"/>`,
      '    </radialGradient>');
  }
  lines.push('  </defs>',
    '  <circle cx="500" cy="500" r="480" fill="url(#rg0)"/>',
    '  <circle cx="500" cy="500" r="440" fill="none" stroke="url(#lg0)" stroke-width="18"/>');
  // Rings of petals.
  for (const [ring, count, inner, outer] of [[0, 36, 120, 330], [1, 24, 80, 220], [2, 12, 30, 120]]) {
    lines.push(`  <g id="petals${ring}" transform="translate(500 500)" opacity="${f(0.7 + 0.1 * ring)}">`);
    for (let i = 0; i < count; i++) {
      const a = (360 / count) * i;
      const w = 20 + 25 * rnd();
      lines.push(`    <path transform="rotate(${f(a)})" fill="url(#lg${(i + ring) % 8})" stroke="#1a1a2e" stroke-width="1.5" ` +
        `d="M0 ${-inner} C${f(w)} ${f(-inner - (outer - inner) * 0.3)} ${f(w * 0.8)} ${f(-outer + 20)} 0 ${-outer} ` +
        `C${f(-w * 0.8)} ${f(-outer + 20)} ${f(-w)} ${f(-inner - (outer - inner) * 0.3)} 0 ${-inner}Z"/>`);
    }
    lines.push('  </g>');
  }
  // Dots on an outer band.
  lines.push('  <g id="dots">');
  for (let i = 0; i < 120; i++) {
    const a = rnd() * Math.PI * 2;
    const r = 340 + 90 * rnd();
    lines.push(`    <circle cx="${f(500 + r * Math.cos(a))}" cy="${f(500 + r * Math.sin(a))}" r="${f(3 + 9 * rnd())}" ` +
      `fill="${colour()}" fill-opacity="${f(0.5 + 0.5 * rnd())}"/>`);
  }
  lines.push('  </g>');
  // Wavy strokes.
  lines.push('  <g id="waves" fill="none" stroke-linecap="round">');
  for (let i = 0; i < 60; i++) {
    const y = 120 + 760 * rnd();
    const x = 100 + 200 * rnd();
    const amp = 10 + 30 * rnd();
    let d = `M${f(x)} ${f(y)}`;
    for (let k = 0; k < 6; k++) d += ` q${f(30 + 20 * rnd())} ${f(k % 2 ? amp : -amp)} ${f(60 + 40 * rnd())} 0`;
    lines.push(`    <path d="${d}" stroke="url(#lg${i % 8})" stroke-width="${f(1 + 5 * rnd())}" stroke-opacity="${f(0.3 + 0.4 * rnd())}"/>`);
  }
  lines.push('  </g>');
  // Stars.
  lines.push('  <g id="stars">');
  for (let i = 0; i < 40; i++) {
    const cx = 80 + 840 * rnd();
    const cy = 80 + 840 * rnd();
    const r = 10 + 25 * rnd();
    const points = [];
    for (let k = 0; k < 10; k++) {
      const a = (Math.PI / 5) * k - Math.PI / 2;
      const rr = k % 2 ? r * 0.45 : r;
      points.push(`${f(cx + rr * Math.cos(a))},${f(cy + rr * Math.sin(a))}`);
    }
    lines.push(`    <polygon points="${points.join(' ')}" fill="url(#rg${1 + (i % 3)})" stroke="${colour()}" stroke-width="1"/>`);
  }
  lines.push('  </g>');
  // Rotated copies of a rounded-rectangle motif.
  lines.push('  <g id="tiles" transform="translate(500 500)">');
  for (let i = 0; i < 24; i++) {
    lines.push(`    <rect transform="rotate(${f(15 * i)}) translate(0 -470)" x="-14" y="-8" width="28" height="16" rx="5" ` +
      `fill="url(#lg${i % 8})" opacity="0.9"/>`);
  }
  lines.push('  </g>',
    '  <circle cx="500" cy="500" r="26" fill="url(#rg3)" stroke="#fff" stroke-width="4"/>',
    '</svg>', '');
  return lines.join('\n');
}

async function main() {
  const results = [];
  const save = async (name, pipeline) => {
    const file = path.join(dir, name);
    const started = process.hrtime.bigint();
    await pipeline.toFile(file);
    results.push({ name, file, seconds: Number(process.hrtime.bigint() - started) / 1e9 });
  };
  const t0 = process.hrtime.bigint();
  const elapsed = () => `${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`;

  console.error(`generating photo.jpg (${elapsed()})`);
  await save('photo.jpg', sharp(photo(4000, 3000, 12345), { raw: { width: 4000, height: 3000, channels: 3 } })
    .jpeg({ quality: 92, chromaSubsampling: '4:2:0', progressive: false, mozjpeg: false })
    .withMetadata({ orientation: 6 }));

  console.error(`generating alpha.png (${elapsed()})`);
  await save('alpha.png', sharp(alphaImage(4000, 424242), { raw: { width: 4000, height: 4000, channels: 4 } })
    .png());

  console.error(`generating animated.gif (${elapsed()})`);
  const gif = gifFrames(400, 100, 777);
  await save('animated.gif', sharp(gif.pixels, { raw: { width: 400, height: 400 * 100, channels: 3, pageHeight: 400 } })
    .gif({ delay: gif.delays, loop: 0 }));

  console.error(`generating large.webp (${elapsed()})`);
  await save('large.webp', sharp(photo(4000, 3000, 98765), { raw: { width: 4000, height: 3000, channels: 3 } })
    .webp({ quality: 85 }));

  console.error(`generating logo.svg (${elapsed()})`);
  const svg = logoSvg(2024);
  fs.writeFileSync(path.join(dir, 'logo.svg'), svg);
  results.push({ name: 'logo.svg', file: path.join(dir, 'logo.svg') });
  console.error(`done (${elapsed()})`);

  for (const { name, file } of results) {
    const m = await sharp(file, { animated: true }).metadata();
    const bytes = fs.statSync(file).size;
    const pages = m.pages && m.pages > 1 ? `, ${m.pages} frames` : '';
    const height = m.pageHeight || m.height;
    const orientation = m.orientation ? `, EXIF orientation ${m.orientation}` : '';
    const extra = name.endsWith('.svg') ? `, ${(svg.match(/<[a-zA-Z]/g) || []).length} elements` : '';
    console.log(`${name.padEnd(13)} ${String(bytes).padStart(10)} B  ${m.width}×${height} ${m.format}` +
      `, ${m.channels} channels${m.hasAlpha ? ' (alpha)' : ''}${pages}${orientation}${extra}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
