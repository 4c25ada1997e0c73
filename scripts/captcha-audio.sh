#!/usr/bin/env bash
# Regenerates the spoken symbols of the audio CAPTCHA (A4, WCAG 1.1.1) in
# crates/parley/assets/captcha/audio/: one small WAV per symbol of the CAPTCHA alphabet
# (8-bit mono, 11025 Hz), spoken by eSpeak NG (Debian package `espeak-ng`, GPL-3.0-or-later;
# its output is not covered by its licence). Letters are said with their NATO spelling word so
# that rhyming letters (M/N, D/T/P...) are told apart by ear. Run once when the alphabet
# changes and commit the files; the server mixes them with noise at run time
# (crates/parley/src/service/captcha.rs).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${REPO_ROOT}/crates/parley/assets/captcha/audio"
command -v espeak-ng >/dev/null || { echo "install espeak-ng (apt-get install espeak-ng)" >&2; exit 1; }
mkdir -p "${OUT}"
declare -A SAY=(
  [A]="A, alpha." [C]="C, charlie." [D]="D, delta." [E]="E, echo." [F]="F, foxtrot."
  [H]="H, hotel." [J]="J, juliett." [K]="K, kilo." [L]="L, lima." [M]="M, mike."
  [N]="N, november." [P]="P, papa." [R]="R, romeo." [T]="T, tango." [W]="W, whiskey."
  [X]="X, x-ray." [3]="three." [4]="four." [6]="six." [7]="seven." [9]="nine."
)
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT
for sym in "${!SAY[@]}"; do
  espeak-ng -v en-us -s 140 -w "${tmp}/${sym}.wav" "${SAY[${sym}]}"
  python3 - "${tmp}/${sym}.wav" "${OUT}/${sym}.wav" <<'PY'
import audioop, sys, wave
src = wave.open(sys.argv[1])
frames = src.readframes(src.getnframes())
frames, _ = audioop.ratecv(frames, 2, 1, src.getframerate(), 11025, None)
frames = audioop.lin2lin(frames, 2, 1)          # 8-bit signed ...
frames = audioop.bias(frames, 1, 128)           # ... to WAV's unsigned 8-bit
# trim leading and trailing silence
data = bytearray(frames)
quiet = lambda b: abs(b - 128) < 3
start = next((i for i, b in enumerate(data) if not quiet(b)), 0)
end = len(data) - next((i for i, b in enumerate(reversed(data)) if not quiet(b)), 0)
out = wave.open(sys.argv[2], 'wb')
out.setnchannels(1); out.setsampwidth(1); out.setframerate(11025)
out.writeframes(bytes(data[max(0, start - 200):min(len(data), end + 200)]))
PY
done
ls -l "${OUT}"
