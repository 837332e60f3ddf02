"""Package layout for virtiospec.

The repository's top-level folders are mapped under the single ``virtiospec``
namespace, so nothing generic (``spec``, ``models``, ...) lands in site-packages:

    virtiospec/   -> virtiospec              (command line)
    spec/         -> virtiospec.spec         (normative text + catalogue loader)
    models/       -> virtiospec.models       (Z3 proofs, Hypothesis machines, mutants)
    reference/    -> virtiospec.reference    (reference implementation of every layer)
    conformance/  -> virtiospec.conformance  (suite, targets, reports)

The C reference of the split ring (reference/ring.c) is compiled at install into the cffi
module ``virtiospec.reference._ring`` (see reference/ring_c_build.py), the table and
shm-signal (reference/shm.c) into ``virtiospec.reference._shm`` (reference/shm_c_build.py),
the packed ring (reference/ring_packed.c) into ``virtiospec.reference._ring_packed``
(reference/ring_packed_c_build.py);
without a C compiler the install stops with an error naming the missing compiler.
"""

from setuptools import find_packages, setup

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
      cffi_modules=["reference/ring_c_build.py:install_ffi",
                    "reference/shm_c_build.py:install_ffi",
                    "reference/ring_vhost_build.py:install_ffi",
                    "reference/ring_vhost_packed_build.py:install_ffi",
                    "reference/ring_packed_c_build.py:install_ffi"])
