"""nbgrader settings of the TensorWeaver labs course (copied into the course directory that
`python -m tensorweaver.labs release|autograde` builds: source/ generated from labs/src)."""
c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "tensorweaver-lab"
# Every lab is one assignment named after it (04_mlp), holding the notebook and data/.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.updated.ipynb"]

# What a student sees in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Autograde: the instructor's CHECK cells are what counts, whatever the submission did to
# them: changed cells are replaced, deleted ones added back (after the cell that preceded
# them in the source).
c.OverwriteCells.add_missing_cells = True
# The labs train small models: allow a cell up to 15 minutes (nbgrader's default is 30 s).
c.Execute.timeout = 900
c.Execute.kernel_name = "python3"
