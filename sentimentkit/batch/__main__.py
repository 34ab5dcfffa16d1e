"""`python -m sentimentkit.batch INPUT -o OUT.parquet`, and the file spark-submit runs:

ENTRY=$(python -c 'import sentimentkit.batch, os; print(os.path.dirname(sentimentkit.batch.__file__))')/__main__.py
spark-submit --master spark://HOST:7077 "$ENTRY" reviews.csv -o scored.parquet
"""

import sys
from pathlib import Path

if not __package__:  # run as a file (spark-submit): this folder must not shadow top-level modules
    _here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if not p or str(Path(p).resolve()) != _here]

from sentimentkit.batch.cli import main

main()
