//! `carme-man OUTDIR`: writes every man page of carme-slurm into OUTDIR
//! (made if missing), one file per page, and lists them on stdout.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("carme: usage: carme-man OUTDIR (the directory to write the man pages into)");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    match carme_man::write_all(&dir) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "carme: cannot write the man pages into {}: {e}; check that it is a \
                 writable directory",
                dir.display()
            );
            ExitCode::FAILURE
        }
    }
}
