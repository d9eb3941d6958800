"""The parser build a host uses: src-sha as provision.yml's shell pipeline computes it, the
CUDA_VER table, the library path."""

from __future__ import annotations

import subprocess

from y7deploy.deploy import parser


def shell_sha(tree) -> str:
    """provision.yml's own command (its parser_sha lookup), run by the shell."""
    out = subprocess.run("find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum",
                         shell=True, cwd=tree, capture_output=True, text=True, check=True).stdout
    return out[:16]


def test_tree_sha_is_provisions(tmp_path):
    tree = tmp_path / "nvdsinfer_custom_impl_Yolo"
    for rel, text in {"Makefile": "CUDA_VER?=\n", "yolo.cpp": "int main;\n", "layers/activation_layer.cpp": "a\n",
                      "layers/Z_upper.h": "z\n", "layers/sub/deep.cu": "__global__ void k(){}\n",
                      "a b.h": "space\n", "_under.h": "u\n"}.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(text)
    assert parser.tree_sha(tree) == shell_sha(tree)
    before = parser.tree_sha(tree)
    (tree / "layers/sub/deep.cu").write_text("__global__ void k(){ }\n")
    assert parser.tree_sha(tree) != before and parser.tree_sha(tree) == shell_sha(tree)


def test_cuda_ver_by_deepstream_version():
    # DeepStream-Yolo's README table (NVIDIA-FACTS.md)
    for ds, cuda in (("7.1", "12.6"), ("7.0", "12.2"), ("6.4", "12.2"), ("6.3", "11.4"), ("6.1.1", "11.4"),
                     ("6.0.1", "10.2"), ("5.1", "10.2"), ("6.2.9", ""), ("", "")):
        assert parser.cuda_ver({"deepstream": ds}) == cuda


def test_lib_path():
    assert parser.lib_path("/opt/y7deploy", "0123456789abcdef", "11.4") == \
        "/opt/y7deploy/lib/0123456789abcdef-cuda11.4/libnvdsinfer_custom_impl_Yolo.so"
    assert parser.lib_path("/opt/y7deploy", "0123456789abcdef", "10.2", opencv=True) == \
        "/opt/y7deploy/lib/0123456789abcdef-cuda10.2-opencv/libnvdsinfer_custom_impl_Yolo.so"
