"""The reporter's pages (``/report``, ``/case``): HTML templates, one strings file, and static
ES modules that hash photos in the person's own browser (``static/hashing/``)."""
