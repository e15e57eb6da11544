//! The command line, parsed and validated without touching the machine.

use std::path::PathBuf;

use clap::builder::RangedU64ValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::docker::{DEFAULT_MIRROR, MIRROR_ENV};
use crate::fs_kind::FsKind;
use crate::matrix::Partition;
use crate::trace;
use crate::workdir::DEFAULT_WORK_DIR;

const AFTER_HELP: &str = "\
Examples:
  fsmatrix run                             every scenario on ext4, btrfs, xfs, tmpfs, overlay
  fsmatrix run --fs xfs swap drift         scenarios whose name contains swap or drift, on xfs
  fsmatrix run --partition 2/3 --junit j.xml   one of three CI shards
  fsmatrix run --runner docker             the same matrix inside a container
  fsmatrix golden update swap-file         re-record a golden transcript on purpose
  fsmatrix trace --write docs/guarantees.md   regenerate the guarantees table

Exit codes:
  0    every trial in scope passed
  1    a trial failed (a step, a crash check, a golden difference, a timeout, a crashed child)
  2    a scenario file is invalid or a golden file has no scenario (or, for check and trace, the requirements
       traceability is broken: an unknown id, an unproven requirement, a stale
       table); no trial was started
  3    the machine lacks a prerequisite (a tool, a device, privilege, a Docker engine, a
       private work directory with room for the trials)
  4    the harness itself failed
  64   bad usage, or a refused command (golden update under CI)
  130  interrupted; everything was released first

Scenario format: docs/scenario-format.md. Golden files: docs/golden.md.
Guarantees and what proves them: docs/guarantees.md.";

/// fsmatrix certifies the switchyard swap engine on real filesystems.
///
/// It formats loop-mounted ext4, btrfs and xfs images (plus tmpfs and overlayfs), runs the YAML
/// scenarios through swap, rollback, faults and crashes, and compares each trial's canonical
/// transcript with the golden files. Any failure, any golden difference fails the run; nothing
/// is ever skipped.
#[derive(Debug, Parser)]
#[command(name = "fsmatrix", version, max_term_width = 100, after_long_help = AFTER_HELP)]
pub struct Cli {
    /// Where runs keep their images, mounts and rejected transcripts: a real directory owned by
    /// root that nobody else can write to, made mode 0700 (and created so when missing).
    #[arg(long, global = true, env = "FSMATRIX_WORK_DIR", default_value = DEFAULT_WORK_DIR)]
    pub work_dir: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the matrix: every scenario on every filesystem in scope.
    Run(RunArgs),
    /// List the trials a run would start (no root needed, nothing is created).
    List(SelectArgs),
    /// Validate every scenario file and the requirement ids it names (no root needed).
    Check(CheckArgs),
    /// Print the guarantees table: requirement -> scenarios, tests, filesystems (no root needed).
    ///
    /// Fails when an implemented requirement has no proof, a requirement that is not implemented
    /// has one, a scenario does not say what it proves, or a scenario or test names an unknown
    /// requirement id.
    Trace(TraceArgs),
    /// Write golden transcripts on purpose.
    #[command(subcommand)]
    Golden(GoldenCommand),
    /// Say what this machine can and cannot do, and how to fix it.
    Doctor,
    /// Reclaim what killed runs of this work directory left: processes, mounts, loop devices,
    /// run directories, containers, and the runner images only they used.
    Clean,
    /// Build the runner image, or bootstrap its base where no registry is reachable.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Run one trial (used by `run`; not for people).
    #[command(name = "__trial", hide = true)]
    Trial { request: PathBuf, report: PathBuf },
    /// Run one engine step of a trial, reporting the crash points it reaches (used by trials).
    #[command(name = "__step", hide = true)]
    Step { request: PathBuf },
    /// Hold the engine's lock until killed (used by the `hold_lock` fault).
    #[command(name = "__hold-lock", hide = true)]
    HoldLock { lock: PathBuf },
    /// The certification self-test (built with the `defects` feature only): run the matrix
    /// against each of the engine's deliberate defects and print which trials caught it; fails
    /// unless every defect is caught by a behaviour failure.
    #[cfg(feature = "defects")]
    Defects(DefectsArgs),
}

#[cfg(feature = "defects")]
#[derive(Debug, Clone, Args)]
pub struct DefectsArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Only these defects (by name); default: every one.
    #[arg(long, value_delimiter = ',', value_name = "DEFECT")]
    pub only: Vec<switchyard::defect::Defect>,
}

/// Where scenarios and golden files are read from.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// The directory of scenario files.
    #[arg(long, default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// The directory of golden transcripts.
    #[arg(long, default_value = "golden")]
    pub golden: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The requirements file that scenarios' `proves:` ids must be defined in.
    #[arg(long, value_name = "FILE", default_value = trace::REQUIREMENTS_FILE)]
    pub requirements: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct TraceArgs {
    /// The directory of scenario files.
    #[arg(long, default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// The requirements file.
    #[arg(long, value_name = "FILE", default_value = trace::REQUIREMENTS_FILE)]
    pub requirements: PathBuf,
    /// The workspace whose `.rs` files hold the tests' `/// Proves:` lines.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub sources: PathBuf,
    /// Fail unless FILE holds exactly the table this would print.
    #[arg(long, value_name = "FILE", conflicts_with = "write")]
    pub check: Option<PathBuf>,
    /// Write the table to FILE instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Show the filesystems each requirement's scenarios ran on in a run, and how many of their
    /// trials passed, from that run's report (`fsmatrix run --json FILE`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["check", "write"])]
    pub results: Option<PathBuf>,
    /// Fail on a test proof that is not among the tests cargo built: FILE holds what
    /// `cargo test -- --list` printed, both streams (scripts/test makes it).
    #[arg(long, value_name = "FILE")]
    pub listed: Option<PathBuf>,
}

/// Which trials to take.
#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Filesystems to run on (comma-separated); default: all five.
    #[arg(long, value_delimiter = ',', value_name = "FS")]
    pub fs: Vec<FsKind>,
    /// Run shard K of N (1-based): deterministic, and the shards together are the whole matrix.
    #[arg(long, value_name = "K/N")]
    pub partition: Option<Partition>,
    /// Only scenarios whose name contains one of these.
    #[arg(value_name = "FILTER")]
    pub filters: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Runner {
    /// In this process tree, on this machine (needs root and the mkfs tools).
    Host,
    /// Inside a container built through the Docker Engine API.
    Docker,
}

#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// Trials run in parallel, each on its own images (at least 1).
    #[arg(long, default_value_t = default_jobs(), value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub jobs: usize,
    /// A trial still running after this many seconds is killed and fails (at least 1).
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = RangedU64ValueParser::<u64>::new().range(1..))]
    pub trial_timeout: u64,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub exec: ExecArgs,
    /// Where the trials run.
    #[arg(long, value_enum, default_value_t = Runner::Host)]
    pub runner: Runner,
    /// Also write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write a JSON report here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum GoldenCommand {
    /// Run the selected scenarios and write their transcripts as the new golden files, when
    /// every filesystem of each scenario's scope ran and agrees (so no --partition, and --fs
    /// only when it names them all). Refused when CI is true (true, 1, yes, on).
    Update {
        #[command(flatten)]
        select: SelectArgs,
        #[command(flatten)]
        exec: ExecArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the runner image (cached by the hash of its content).
    Build(SourceArgs),
    /// Make a local base image from a debootstrap root filesystem.
    Bootstrap {
        /// Rebuild even if the base image exists.
        #[arg(long)]
        force: bool,
        /// The Debian mirror debootstrap reads from (the real-system suite's root comes from
        /// the one FSMATRIX_DEBIAN_MIRROR names too).
        #[arg(long, env = MIRROR_ENV, default_value = DEFAULT_MIRROR)]
        mirror: String,
    },
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
