"""Working with the tools platforms already run: the ``threatexchange`` tooling's extension
(:mod:`hashwall.interop.threatexchange`, needs the ``interop`` extra) and hash lists in and out
(:mod:`hashwall.service.lists`)."""
