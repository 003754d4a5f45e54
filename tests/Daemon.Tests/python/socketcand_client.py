#!/usr/bin/python3
"""python-can's socketcand interface as a test client of vhost-device-can's socketcand bridge.

Connects with can.Bus(interface="socketcand"), prints READY, waits for a frame with the start
ID (if given), sends the --send frames in order, then receives until --expect frames came and
the bus stayed quiet for --linger seconds. Every received frame but the start mark is printed
as "RX ID#DATA" (upper-case hex), then DONE. Exits 2 when the start mark never comes.
"""
import argparse
import sys
import time

import can


def frame(text):
    ident, _, data = text.partition("#")
    value = int(ident, 16)
    return can.Message(arbitration_id=value, is_extended_id=len(ident) == 8 or value > 0x7FF,
                       data=bytes.fromhex(data))


def remote(text):
    ident, _, dlc = text.partition("#R")
    return can.Message(arbitration_id=int(ident, 16), is_extended_id=False, is_remote_frame=True,
                       dlc=int(dlc))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--channel", default="default")
    parser.add_argument("--start-id", type=lambda text: int(text, 16))
    parser.add_argument("--send", action="append", default=[], type=frame)
    parser.add_argument("--send-remote", action="append", default=[], type=remote)
    parser.add_argument("--expect", type=int, default=0)
    parser.add_argument("--linger", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()

    bus = can.Bus(interface="socketcand", host=args.host, port=args.port, channel=args.channel)
    print("READY", flush=True)
    deadline = time.monotonic() + args.timeout
    received = []
    if args.start_id is not None:
        while True:
            message = bus.recv(timeout=max(0.0, deadline - time.monotonic()))
            if message is None:
                print("no start mark", flush=True)
                sys.exit(2)
            if message.arbitration_id == args.start_id:
                break
            received.append(message)
    for message in args.send_remote + args.send:
        bus.send(message)
    while len(received) < args.expect:
        message = bus.recv(timeout=max(0.0, deadline - time.monotonic()))
        if message is None:
            break
        received.append(message)
    while True:
        message = bus.recv(timeout=args.linger)
        if message is None:
            break
        received.append(message)
    for message in received:
        print(f"RX {message.arbitration_id:X}#{bytes(message.data).hex().upper()}", flush=True)
    print("DONE", flush=True)
    bus.shutdown()


if __name__ == "__main__":
    main()
