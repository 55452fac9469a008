"""The I/O layer: the store, the sync server and client, the scheduler, the web view
and the command line, over the sans-I/O ``protocol`` package."""
