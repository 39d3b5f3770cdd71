"""CT slices for `npm run bench:dicom`: N 512x512 16-bit slices made from a real CT file (pydicom's CT_small.dcm, as
Debian's python3-pydicom ships it), each with its own pixels (the source upsampled, shifted and with its own noise)
and its own UIDs, written uncompressed (explicit VR little endian) as an export from a scanner would be.

    /usr/bin/python3 bench/make_dicom_slices.py OUT_DIR N
"""
import sys
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

SIZE = 512


def main() -> None:
    out, count = Path(sys.argv[1]), int(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    src = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    base = src.pixel_array.astype(np.int32)
    scale = SIZE // base.shape[0]
    big = np.kron(base, np.ones((scale, scale), dtype=np.int32))
    rng = np.random.default_rng(11)
    study, series = generate_uid(), generate_uid()
    for i in range(count):
        ds = src.copy()
        pixels = np.roll(big, (i * 3) % SIZE, axis=0) + rng.integers(-20, 21, size=big.shape)
        ds.PixelData = np.clip(pixels, -32768, 32767).astype(np.int16).tobytes()
        ds.Rows, ds.Columns = SIZE, SIZE
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = i + 1
        ds.WindowCenter, ds.WindowWidth = 40, 400
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.save_as(out / f"slice{i:05d}.dcm", write_like_original=False)


if __name__ == "__main__":
    main()
