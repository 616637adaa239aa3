"""Import results exported from any LIMS into the embedded LIMS from a long CSV, one row per result.

Format: UTF-8 (a byte-order mark is allowed), comma-separated with standard CSV quoting, a header row,
then one row per result. Column names match ignoring case and surrounding spaces, in any order; cells
lose their surrounding spaces; blank rows are skipped. Problems name the line as a text editor counts
it (the header is line 1) and the column.

Required columns: ``sponsor_id, study_id, study_type, protocol_number, batch, condition,
timepoint_months, sample_id, test, component, value, units, spec_min, spec_max, status``.
Optional: ``study_director``, ``milestone``, ``sample_kind``. Any other column is an error.

* ``study_type``: ``stability``, ``bioanalytical_pk`` (aliases ``pk``, ``bioanalytical``), ``other``.
* ``status`` (any case): ``entered``, ``reviewed``, ``approved`` (also ``authorised``, ``authorized``),
  ``invalidated``, ``cancelled`` (also ``canceled``); invalidated and cancelled results are not
  reportable.
* ``condition``: ``25°C/60%RH``, ``25C/60%RH``, ``40 °C / 75 % RH``, ``5°C``, ``-20C``; one condition
  per study and temperature/humidity. Kind: 25/60 and 30/75 long term, 30/65 intermediate, 40/75
  accelerated, 2 to 8 °C refrigerated, -15 °C or colder frozen, anything else other. Stability rows
  need ``condition`` and ``timepoint_months``; other studies may leave them empty.
* ``timepoint_months``: a decimal >= 0; one timepoint per study, condition and month ("T0", "T3").
* ``value``: kept exactly as written ("99.50"): a decimal, ``<x``/``>x`` or one of
  ``limsai.model.TEXT_RESULTS``; empty means no value yet. ``spec_min``/``spec_max``: kept as written
  ("95.0"); both empty means no specification. All rows of one study, test and component give the
  same limits, as written.
* ``sample_kind``: a ``SampleKind`` value; empty means ``stability_pull`` for stability and ``pk`` for
  bioanalytical studies (studies of type ``other`` must name it). A sample keeps the same study,
  batch, condition, timepoint and kind on every row.
* A test is complete when all its valid results are reviewed or approved, cancelled when all its
  results are cancelled, in progress otherwise.
* Study attributes (sponsor, type, protocol, director, milestone) agree on every row of a study. A
  new study gets phase ``not_applicable``, its batches, ``study_director`` (empty: none) and, when
  ``milestone`` is given, that milestone complete at the import time (empty: none).
* A study already in the LIMS must have the same sponsor, protocol and type, and a director or
  milestone given for it must be the one it has. Rows add to it, reusing its stored conditions,
  timepoints, samples, tests and specifications; a result whose sample, test and component is
  already stored is a duplicate.
* Unknown sponsors are created with their id as name; an unknown study director is created as a user
  with role ``study_director`` entitled to the sponsors of the studies they direct.

Ids follow the keys: condition ``STUDY:COND:25C-60RH``, timepoint ``STUDY:TP:25C-60RH:T3``, test
``SAMPLE:Assay``, result ``SAMPLE:Assay:Impurity_B``, specification ``STUDY:SPEC:Assay:Impurity_B``
(each run of characters other than letters, digits and ``. _ + -`` becomes ``_``). Any problem stops
the import: the first ``MAX_PROBLEMS`` are reported and nothing is written.

Modules: ``columns`` (header and cell rules), ``reader`` (bytes to CSV records), ``builder`` (records
from rows, checked against each other and the LIMS), ``existing`` (what the LIMS already holds),
``problems`` (how a bad file is reported) and ``api`` (:func:`read_csv_dataset`, :func:`import_csv`).
"""

from limsai.lims.csv_import.api import ImportSummary, import_csv, read_csv_dataset
from limsai.lims.csv_import.columns import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from limsai.lims.csv_import.existing import ExistingLims, ImportTarget
from limsai.lims.csv_import.problems import MAX_PROBLEMS, CsvImportError, CsvProblem

__all__ = [
    "MAX_PROBLEMS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "CsvImportError",
    "CsvProblem",
    "ExistingLims",
    "ImportSummary",
    "ImportTarget",
    "import_csv",
    "read_csv_dataset",
]
