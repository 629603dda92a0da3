//! carme-exec has its own entry point (no C runtime, no dynamic loader):
//! link it static and without the C start files, so that exec'ing it costs
//! little more than the kernel's execve. Not position independent: nothing
//! would apply its relocations (`-no-pie` after rustc's own `-pie` wins).

fn main() {
    for arg in ["-nostartfiles", "-nostdlib", "-static", "-no-pie"] {
        println!("cargo::rustc-link-arg-bins={arg}");
    }
}
