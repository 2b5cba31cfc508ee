"""Starts moto's server on a port the kernel picks (port 0) and writes that port to the file
named by argv[1] once it is bound, so no other process can take it between choosing a free
port and binding it. The test support code kills this process when the test ends."""
import sys
import threading

from moto.moto_server.threaded_moto_server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
_, port = server.get_host_and_port()
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(port))
import os

os.replace(sys.argv[1] + ".tmp", sys.argv[1])
threading.Event().wait()
