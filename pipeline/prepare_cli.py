"""The `prepare-data` command: writes a packaged dataset as CSV, the taxi data from the
tfx package or a real dataset bundled with scikit-learn (`pipeline.data`)."""

from pipeline.data import SAMPLES
from pipeline.exit_codes import EXIT_OK, EXIT_USAGE
from pipeline.flags import writable_folder
from pipeline.periods import PERIODS


def add_parser(commands) -> None:
    prepare = commands.add_parser(
        "prepare-data", help="write a packaged dataset as CSV: the taxi data from the tfx "
        "package, or a real dataset bundled with scikit-learn")
    prepare.add_argument("--dataset", choices=("taxi", *SAMPLES), default="taxi",
                         help="the dataset (default: taxi)")
    prepare.add_argument("--data-dir", type=writable_folder,
                         help="destination (default: data/DATASET, with --by "
                         "data/taxi-by-PERIOD)")
    prepare.add_argument("--by", choices=PERIODS, help="taxi only: one span per year, "
                         "quarter or month of trip_start_timestamp, in time order")
    prepare.add_argument("--force", action="store_true",
                         help="replace a data.csv there that differs from the dataset")


def main(args, out, err) -> int:
    """Writes the dataset; prints the CSV file's path, and how to train on it."""
    from pipeline import data
    from pipeline.config import DEFAULT_DATA_DIR

    folder = f"{args.dataset}-by-{args.by}" if args.by else args.dataset
    # --data-dir comes expanded from flags.writable_folder.
    data_dir = (args.data_dir or DEFAULT_DATA_DIR.parent / folder).resolve()
    try:
        if args.by:
            print(data.prepare_by_period(args.dataset, args.by, data_dir), file=out)
            return EXIT_OK
        if args.dataset == "taxi":
            print(data.prepare_default_data(data_dir, force=args.force), file=out)
            return EXIT_OK
        print(data.prepare_sample(args.dataset, data_dir, force=args.force), file=out)
    except (data.DataError, OSError) as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    sample = data.SAMPLES[args.dataset]
    print(f"train on it with: python -m pipeline run --data-dir {data_dir} "
          f"--label {sample.label} --task {sample.task}", file=err)
    return EXIT_OK
