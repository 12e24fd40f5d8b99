# Sourced by run.sh and memory.sh: installs sharp and generates the corpus when needed.
# Expects IMAGES (space-separated corpus names) and a die function; runs in bench/imaging.

if [ ! -d node_modules/sharp ]; then
    printf '== %s\n' "installing sharp (npm ci)" >&2
    npm ci --no-audit --no-fund >&2
fi

# Regenerated when a file is missing or the generator or the sharp that encodes it changed.
STAMP=$(cat gen-corpus.js package-lock.json | sha256sum | cut -c1-16)
missing=0
for image in $IMAGES; do
    [ -f "corpus/$image" ] || missing=1
done
if [ "${REGENERATE:-0}" = 1 ] || [ "$missing" = 1 ] || [ "$(cat corpus/.stamp 2>/dev/null)" != "$STAMP" ]; then
    printf '== %s\n' "generating the corpus (node gen-corpus.js; about 30 s)" >&2
    node gen-corpus.js corpus >&2
    echo "$STAMP" >corpus/.stamp
fi
for image in $IMAGES; do
    [ -f "corpus/$image" ] || die "corpus/$image: no such corpus file"
done
