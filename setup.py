"""Package layout for virtiospec.

The repository's top-level folders are mapped under the single ``virtiospec``
namespace, so nothing generic (``spec``, ``models``, ...) lands in site-packages:

    virtiospec/   -> virtiospec              (command line)
    spec/         -> virtiospec.spec         (normative text + catalogue loader)
    models/       -> virtiospec.models       (Z3 proofs, Hypothesis machines, mutants)
    reference/    -> virtiospec.reference    (reference implementation of every layer)
    conformance/  -> virtiospec.conformance  (suite, targets, reports)

The C reference of the split ring (reference/ring.c) is compiled at install into the cffi
module ``virtiospec.reference.ring.c._ring`` (see reference/ring/c/build.py), the table and
shm-signal (reference/shm/c/shm.c) into ``virtiospec.reference.shm.c._shm``
(reference/shm/c/build.py),
the packed ring (reference/ring/c/ring_packed.c) into ``virtiospec.reference.ring.c._ring_packed``
(reference/ring/c/packed_build.py);
without a C compiler the install stops with an error naming the missing compiler.

cffi runs those build files before the package exists, so what they share
(reference/c_build.py) is loaded here first, by its path, under the name they take it by
when ``virtiospec.reference.c_build`` cannot be imported yet (c_build.BUILD_TIME_NAME).
"""

import importlib.util
import sys
from pathlib import Path

from setuptools import find_packages, setup

_spec = importlib.util.spec_from_file_location(
    "_vs_c_build", Path(__file__).resolve().parent / "reference" / "c_build.py")
assert _spec is not None and _spec.loader is not None
sys.modules[_spec.name] = _c_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_c_build)

ROOTS = {
    "virtiospec": "virtiospec",
    "virtiospec.spec": "spec",
    "virtiospec.models": "models",
    "virtiospec.reference": "reference",
    "virtiospec.conformance": "conformance",
}

packages: list[str] = []
for package, folder in ROOTS.items():
    packages.append(package)
    packages += [f"{package}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=ROOTS,
      cffi_modules=["reference/ring/c/build.py:install_ffi",
                    "reference/shm/c/build.py:install_ffi",
                    "reference/vhost_user/c/build.py:install_ffi",
                    "reference/vhost_user/c/packed_build.py:install_ffi",
                    "reference/ring/c/packed_build.py:install_ffi"])
