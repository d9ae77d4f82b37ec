"""The installed wheel, used as a user would: run by package_check.sh in a clean virtualenv.

Imports the package (from site-packages, not a checkout), looks numbers up in the embedded
sandbox, draws the health plot into a PNG with the Agg backend, builds the dashboard, and runs
the command-line entry point. Anything missing from the wheel fails one of these.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from importlib.resources import files
from pathlib import Path

import pandas as pd

import mobilestatus_pandas as msp

MIN_PNG_BYTES = 1000


def main() -> None:
    location = Path(msp.__file__).resolve()
    assert "site-packages" in location.parts, f"imported from {location}, not the wheel"
    assert "matplotlib" not in sys.modules, "import mobilestatus_pandas loaded matplotlib"
    assert files("mobilestatus_pandas").joinpath("py.typed").is_file(), "py.typed not shipped"

    frame = pd.DataFrame({"phone": ["13800138000", "+86 138 0000 0000", "not a number"]})
    with msp.Sandbox() as sandbox:
        client = sandbox.client()
        assert client.lookup("13800138000").status == "out_of_service"
        out = frame.mobile.status("phone", client=client, progress=False)
    assert out["mobile_status"].tolist() == ["out_of_service", "normal", "invalid"], out

    import matplotlib

    assert matplotlib.get_backend().lower() == "agg"
    ax = out.mobile.plot()
    png = Path(tempfile.mkdtemp()) / "health.png"
    ax.figure.savefig(png)
    assert png.stat().st_size > MIN_PNG_BYTES, "the plot is empty"
    out.mobile.dashboard()

    command = Path(sys.executable).with_name("mobilestatus")
    help_text = subprocess.run(  # noqa: S603 - the venv's own entry point
        [str(command), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "check" in help_text
    print(f"smoke test passed: mobilestatus-pandas from {location.parent}")


if __name__ == "__main__":
    main()
