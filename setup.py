"""Builds tf_wta: compiles cc/ into one op library, tf_wta/_tf_wta_ops.so.

Flags come from the TensorFlow that runs the build (`tf.sysconfig`), never
hard-coded. CUDA kernels are compiled in when nvcc is found.

Environment:
  TF_WTA_CUDA=0|1       force the CUDA kernels off or on (default: on if nvcc is found)
  TF_WTA_CUDA_ARCHS     e.g. "75;80;90": SASS targets, plus PTX for the newest
                        (default: 70, 80, 90 where nvcc still supports them)
  TF_WTA_JOBS           parallel compile jobs (default 2; each needs up to ~2 GB)
  TF_WTA_SANITIZE       e.g. "address,undefined": build the CPU kernels with those
                        sanitizers (-fsanitize=... -fno-omit-frame-pointer -O2 -g,
                        CUDA off) into tf_wta/_tf_wta_ops_sanitized.so, which
                        TF_WTA_OPS_LIBRARY selects at run time (scripts/sanitize.sh)

Fast in-place build for the edit-test loop (recompiles only what changed):
  python setup.py build_ext --inplace
"""
import concurrent.futures
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
LIBRARY_NAME = "_tf_wta_ops.so"
SANITIZED_LIBRARY_NAME = "_tf_wta_ops_sanitized.so"
DEFAULT_CUDA_ARCHS = (70, 80, 90)
QUIET_WARNINGS = ["-Wno-deprecated-declarations", "-Wno-interference-size"]


def _sources():
    """C++ and CUDA sources under cc/, sorted so builds are reproducible."""
    cc = sorted(p for p in (ROOT / "cc").rglob("*.cc") if not p.name.endswith(".cu.cc"))
    cu = sorted((ROOT / "cc").rglob("*.cu.cc"))
    return cc, cu


def _find_nvcc():
    """Path of nvcc to use, or None when CUDA kernels are not built."""
    wanted = os.environ.get("TF_WTA_CUDA", "auto").strip().lower()
    candidates = [shutil.which("nvcc")]
    for home in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if home:
            candidates.append(str(Path(home) / "bin" / "nvcc"))
    nvcc = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    if wanted in ("0", "false", "off", "no"):
        return None
    if wanted in ("1", "true", "on", "yes") and nvcc is None:
        sys.exit("TF_WTA_CUDA=1 but no nvcc was found on PATH, in CUDA_HOME or /usr/local/cuda")
    return nvcc


def _cuda_archs(nvcc):
    """SASS architectures to build for, limited to what this nvcc supports."""
    listed = subprocess.run([nvcc, "--list-gpu-arch"], capture_output=True, text=True).stdout
    supported = sorted(int(a) for a in re.findall(r"compute_(\d+)", listed))
    requested = os.environ.get("TF_WTA_CUDA_ARCHS")
    if requested:
        archs = [int(a) for a in re.split(r"[;, ]+", requested.strip()) if a]
        unsupported = [a for a in archs if a not in supported]
        if unsupported:
            sys.exit(f"TF_WTA_CUDA_ARCHS asks for {unsupported}, which {nvcc} cannot target "
                     f"(it supports {supported})")
        return archs
    archs = [a for a in DEFAULT_CUDA_ARCHS if a in supported]
    if DEFAULT_CUDA_ARCHS[0] not in supported:
        # CUDA 13 dropped Volta (sm_70): build for the oldest it still has.
        oldest = min(a for a in supported if a >= DEFAULT_CUDA_ARCHS[0])
        archs = sorted(set(archs) | {oldest})
    return archs


def _sanitizers():
    """The sanitizers TF_WTA_SANITIZE asks for, e.g. ["address", "undefined"]."""
    wanted = [s for s in re.split(r"[,; ]+", os.environ.get("TF_WTA_SANITIZE", "")) if s]
    unknown = set(wanted) - {"address", "undefined", "leak", "thread"}
    if unknown:
        sys.exit(f"TF_WTA_SANITIZE: unknown sanitizer(s) {sorted(unknown)}")
    return wanted


def _tf_flags():
    """(compile flags, link flags, version) of the TensorFlow running this build."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf.sysconfig.get_compile_flags(), tf.sysconfig.get_link_flags(), tf.__version__


class BuildOps(build_ext):
    """Compiles cc/ with g++ (and nvcc) and links one shared library."""

    def get_ext_filename(self, fullname):
        name = SANITIZED_LIBRARY_NAME if _sanitizers() else LIBRARY_NAME
        return os.path.join(*fullname.split(".")[:-1], name)

    def build_extension(self, ext):
        compile_flags, link_flags, tf_version = _tf_flags()
        sanitizers = _sanitizers()
        nvcc = None if sanitizers else _find_nvcc()
        archs = _cuda_archs(nvcc) if nvcc else []
        cc_sources, cu_sources = _sources()
        cuda_define = ["-DGOOGLE_CUDA=1"] if nvcc else []
        cxx_flags = (["-O3", "-fPIC", "-DNDEBUG", f"-I{ROOT}"] + compile_flags
                     + cuda_define + QUIET_WARNINGS
                     + [f'-DTF_WTA_TENSORFLOW_VERSION="{tf_version}"'])
        sanitize_flags = []
        if sanitizers:
            sanitize_flags = [f"-fsanitize={','.join(sanitizers)}", "-fno-omit-frame-pointer",
                              "-fno-sanitize-recover=all", "-g"]
            if "undefined" in sanitizers:
                # GCC 12 rejects absl's constexpr function-pointer checks
                # (raw_hash_set) under these three; the rest of UBSan stays on.
                sanitize_flags.append(
                    "-fno-sanitize=null,nonnull-attribute,returns-nonnull-attribute")
            # -O2, not the usual -O1: GCC only vectorises and contracts FMAs
            # from -O2, and the AVX2 hot loops should be checked as they ship.
            cxx_flags = [f for f in cxx_flags if f != "-O3"] + ["-O2"]
            cxx_flags += sanitize_flags
        jobs = []
        if nvcc:
            cuda_include = self._cuda_shadow_include(nvcc)
            cxx_flags += [f"-I{cuda_include.parents[3]}", f"-I{cuda_include}"]
            nvcc_flags = self._nvcc_flags(compile_flags, archs, cuda_include)
            jobs += [([nvcc] + nvcc_flags, src) for src in cu_sources]
        jobs += [(["g++"] + cxx_flags, src) for src in cc_sources]

        objects = self._compile_all(jobs)
        output = Path(self.get_ext_fullpath(ext.name))
        output.parent.mkdir(parents=True, exist_ok=True)
        self._run(["g++", "-shared", "-o", str(output)] + objects + link_flags + sanitize_flags)

    def _cuda_shadow_include(self, nvcc):
        """A dir whose third_party/gpus/cuda/include is nvcc's own CUDA headers.

        TensorFlow's headers include "third_party/gpus/cuda/include/...", which
        the wheel fills with the CUDA it was built with; pointing that path at
        nvcc's headers keeps one CUDA version in every translation unit.
        """
        cuda_home = Path(nvcc).resolve().parent.parent
        link = Path(self.build_temp).resolve() / "cuda_shadow" / "third_party" / "gpus" / "cuda" / "include"
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(cuda_home / "include", target_is_directory=True)
        return link

    @staticmethod
    def _nvcc_flags(compile_flags, archs, cuda_include):
        flags = ["-O3", "-x", "cu", "-DNDEBUG", "-DGOOGLE_CUDA=1", "--expt-relaxed-constexpr",
                 "-Xcompiler", "-fPIC", f"-I{ROOT}", f"-I{cuda_include.parents[3]}",
                 f"-I{cuda_include}", "-Wno-deprecated-gpu-targets"]
        flags += [f.replace("--std=", "-std=") for f in compile_flags]
        for warning in QUIET_WARNINGS:
            flags += ["-Xcompiler", warning]
        for arch in archs:
            flags.append(f"-gencode=arch=compute_{arch},code=sm_{arch}")
        flags.append(f"-gencode=arch=compute_{archs[-1]},code=compute_{archs[-1]}")
        return flags

    def _compile_all(self, jobs):
        """Compiles (command, source) jobs, at most TF_WTA_JOBS at once; skips
        objects newer than their source, every header and the command."""
        newest_header = max(p.stat().st_mtime for p in (ROOT / "cc").rglob("*.h"))
        workers = max(1, int(os.environ.get("TF_WTA_JOBS", "2")))

        def compile_one(job):
            command, source = job
            digest = hashlib.sha1(" ".join(command + [str(source)]).encode()).hexdigest()[:12]
            obj = Path(self.build_temp).resolve() / "objs" / f"{source.name}.{digest}.o"
            obj.parent.mkdir(parents=True, exist_ok=True)
            if obj.exists() and obj.stat().st_mtime > max(newest_header, source.stat().st_mtime):
                return str(obj)
            self._run(command + ["-c", str(source), "-o", str(obj)])
            return str(obj)

        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            return list(pool.map(compile_one, jobs))

    @staticmethod
    def _run(command):
        print(" ".join(command[:1] + ["..."] + command[-4:]), flush=True)
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            sys.stderr.write(result.stdout[-20000:])
            raise SystemExit(f"command failed ({result.returncode}): {' '.join(command)}")


setup(
    ext_modules=[Extension("tf_wta._tf_wta_ops", sources=[])],
    cmdclass={"build_ext": BuildOps},
)
