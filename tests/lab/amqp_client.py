#!/usr/bin/env python3
"""The lab's client: runs inside the client network namespace and talks to
the cluster only through the VIP (and the load balancers' stats pages).

Subcommands:
  probe      an AMQP handshake (protocol header -> Connection.Start) to
             VIP:port every INTERVAL s, each in its own thread with a
             deadline; one JSON line per attempt. Bounded by --max-attempts
             and --duration, and stops early when --stop-file exists.
  declare    declares a durable test queue (x-queue-type=quorum with
             --quorum: RabbitMQ before 3.11 has no default queue type).
  workload   a publisher (persistent messages, publisher confirms, each
             message retried until confirmed: at-least-once) and a
             consumer (manual acks) on one queue, reconnecting through the
             VIP on any failure; writes a JSON summary: every confirmed
             message must be consumed, duplicates are counted.
  haproxy-stats  the statistics page of one load balancer, as JSON.

Every loop is bounded in count and time. Uses only the standard library
and pika (Debian: python3-pika).
"""

import argparse
import base64
import csv
import io
import json
import os
import socket
import sys
import threading
import time
import urllib.request

AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


def log(*parts):
    print("%.3f" % time.time(), *parts, file=sys.stderr, flush=True)


def read_secret(path):
    with open(path, encoding="utf-8") as f:
        return f.read().strip("\n")


# ------------------------------------------------------------------ probe


def handshake(host, port, timeout):
    """Connects and reads the broker's Connection.Start: the broker behind
    the VIP answers AMQP, not just the load balancer's TCP listener."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(AMQP_HEADER)
        data = b""
        # A frame header (7 bytes) and the class/method ids (4 bytes).
        for _ in range(64):
            if len(data) >= 11:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no Connection.Start in time")
            s.settimeout(left)
            chunk = s.recv(11 - len(data))
            if not chunk:
                raise ConnectionError("closed before Connection.Start")
            data += chunk
        if len(data) < 11:
            raise ConnectionError("short read")
        frame_type, channel = data[0], int.from_bytes(data[1:3], "big")
        class_id, method_id = int.from_bytes(data[7:9], "big"), int.from_bytes(data[9:11], "big")
        if (frame_type, channel, class_id, method_id) != (1, 0, 10, 10):
            raise ConnectionError("not Connection.Start: %r" % data[:11])


def cmd_probe(a):
    out = open(a.out, "a", encoding="utf-8", buffering=1)
    lock = threading.Lock()

    def attempt(seq, start):
        t0 = time.monotonic()
        ok, err = True, ""
        try:
            handshake(a.host, a.port, a.timeout)
        except Exception as e:  # every failure is a data point
            ok, err = False, type(e).__name__ + ": " + str(e)[:120]
        lat = time.monotonic() - t0
        with lock:
            out.write(json.dumps({"seq": seq, "t": start, "ok": ok, "lat": round(lat, 4), "err": err}) + "\n")

    began = time.monotonic()
    threads = []
    for seq in range(a.max_attempts):
        target = began + seq * a.interval
        now = time.monotonic()
        if now - began > a.duration or os.path.exists(a.stop_file):
            break
        if target > now:
            time.sleep(target - now)
        t = threading.Thread(target=attempt, args=(seq, time.time()), daemon=True)
        t.start()
        threads.append(t)
        threads = [t for t in threads if t.is_alive()]
    for t in threads:
        t.join(a.timeout + 1)
    out.close()


# -------------------------------------------------------------- AMQP bits


def params(a, heartbeat=5):
    import pika

    return pika.ConnectionParameters(
        host=a.host,
        port=a.port,
        virtual_host=a.vhost,
        credentials=pika.PlainCredentials(a.user, read_secret(a.password_file)),
        heartbeat=heartbeat,
        blocked_connection_timeout=10,
        socket_timeout=2,
        stack_timeout=5,
        connection_attempts=1,
    )


def queue_args(a):
    return {"x-queue-type": "quorum"} if a.quorum else {}


def connect(a):
    import pika

    conn = pika.BlockingConnection(params(a))
    ch = conn.channel()
    ch.queue_declare(queue=a.queue, durable=True, arguments=queue_args(a))
    return conn, ch


def close_quietly(conn):
    try:
        if conn is not None and conn.is_open:
            conn.close()
    except Exception:
        pass


def cmd_declare(a):
    last = None
    for _ in range(a.attempts):
        try:
            conn, _ch = connect(a)
            close_quietly(conn)
            print(json.dumps({"declared": a.queue, "quorum": a.quorum}))
            return 0
        except Exception as e:
            last = e
            time.sleep(0.5)
    print("declare failed: %r" % (last,), file=sys.stderr)
    return 1


# --------------------------------------------------------------- workload


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.confirmed = set()
        self.attempted = 0
        self.nacks = 0
        self.pub_errors = 0
        self.pub_reconnects = 0
        self.pub_max_gap = 0.0
        self.counts = {}
        self.cons_reconnects = 0
        self.cons_cancels = 0
        self.cons_errors = 0
        self.cons_max_gap = 0.0
        self.errors = []
        self.publisher_done = threading.Event()

    def error(self, who, e):
        with self.lock:
            if len(self.errors) < 30:
                self.errors.append("%.3f %s %s: %s" % (time.time(), who, type(e).__name__, str(e)[:160]))
        log(who, type(e).__name__, str(e)[:160])


def publisher(a, st, deadline):
    import pika

    props = lambda i: pika.BasicProperties(delivery_mode=2, message_id=str(i), content_type="application/json")
    conn = ch = None
    i = 0
    last_confirm = time.monotonic()
    consecutive_nacks = 0
    period = 1.0 / a.rate
    next_t = time.monotonic()
    ready = not a.ready
    # Bounded: at most rate * duration * 4 publish attempts.
    for _ in range(int(a.rate * a.duration * 4) + 100):
        now = time.monotonic()
        # The lab stops publishing once the fault is over for the client;
        # the duration only bounds it.
        if now >= deadline or (a.stop_file and os.path.exists(a.stop_file)):
            break
        if ch is None:
            try:
                conn, ch = connect(a)
                ch.confirm_delivery()
                with st.lock:
                    st.pub_reconnects += 1
            except Exception as e:
                st.error("publisher connect", e)
                close_quietly(conn)
                conn = ch = None
                time.sleep(0.1)
                continue
        if next_t > now:
            time.sleep(next_t - now)
        next_t = max(next_t + period, time.monotonic() - period)
        body = json.dumps({"id": i, "t": time.time()}).encode()
        try:
            with st.lock:
                st.attempted = max(st.attempted, i + 1)
            ch.basic_publish(exchange="", routing_key=a.queue, body=body, properties=props(i), mandatory=True)
        except (pika.exceptions.NackError, pika.exceptions.UnroutableError) as e:
            # Not confirmed: publish the same id again (at-least-once).
            with st.lock:
                st.nacks += 1
            consecutive_nacks += 1
            st.error("publisher nack", e)
            if consecutive_nacks >= 5:
                close_quietly(conn)
                conn = ch = None
                consecutive_nacks = 0
            time.sleep(0.05)
            continue
        except Exception as e:
            with st.lock:
                st.pub_errors += 1
            st.error("publisher", e)
            close_quietly(conn)
            conn = ch = None
            time.sleep(0.05)
            continue
        consecutive_nacks = 0
        t = time.monotonic()
        with st.lock:
            st.confirmed.add(i)
            st.pub_max_gap = max(st.pub_max_gap, t - last_confirm)
        last_confirm = t
        i += 1
        # Ready once publishing is confirmed and the consumer receives:
        # a fault injected then hits a workload that is fully going.
        if not ready and i >= 20:
            with st.lock:
                consuming = bool(st.counts)
            if consuming:
                open(a.ready, "w").close()
                ready = True
    close_quietly(conn)
    st.publisher_done.set()


def consumer(a, st, hard_deadline):
    conn = ch = None
    last_msg = time.monotonic()
    drained_since = None

    def finished():
        nonlocal drained_since
        if not st.publisher_done.is_set():
            return False
        with st.lock:
            missing = any(i not in st.counts for i in st.confirmed)
        if missing:
            drained_since = None
            return False
        # Everything confirmed has arrived; wait a little for redeliveries.
        drained_since = drained_since or time.monotonic()
        return time.monotonic() - drained_since >= a.quiet

    for _ in range(10000):
        if time.monotonic() >= hard_deadline or finished():
            break
        try:
            if ch is None:
                conn, ch = connect(a)
                ch.basic_qos(prefetch_count=100)
                with st.lock:
                    st.cons_reconnects += 1
            for method, props, _body in ch.consume(a.queue, inactivity_timeout=0.2, arguments=None):
                if method is None:
                    if time.monotonic() >= hard_deadline or finished():
                        break
                    continue
                t = time.monotonic()
                mid = int(props.message_id)
                with st.lock:
                    st.counts[mid] = st.counts.get(mid, 0) + 1
                    st.cons_max_gap = max(st.cons_max_gap, t - last_msg)
                last_msg = t
                ch.basic_ack(method.delivery_tag)
            else:
                # The broker cancelled the consumer (e.g. the queue's
                # leader moved): consume again.
                with st.lock:
                    st.cons_cancels += 1
                log("consumer cancelled by the broker")
                continue
            try:
                ch.cancel()
            except Exception:
                pass
            break
        except Exception as e:
            with st.lock:
                st.cons_errors += 1
            st.error("consumer", e)
            close_quietly(conn)
            conn = ch = None
            time.sleep(0.1)
    close_quietly(conn)


def cmd_workload(a):
    st = Stats()
    start = time.monotonic()
    pub_deadline = start + a.duration
    hard_deadline = pub_deadline + a.drain_timeout
    c = threading.Thread(target=consumer, args=(a, st, hard_deadline), daemon=True)
    c.start()
    p = threading.Thread(target=publisher, args=(a, st, pub_deadline), daemon=True)
    p.start()
    p.join(a.duration + 30)
    st.publisher_done.set()
    c.join(max(1.0, hard_deadline - time.monotonic() + 5))
    with st.lock:
        consumed = set(st.counts)
        lost = sorted(st.confirmed - consumed)
        result = {
            "queue": a.queue,
            "attempted": st.attempted,
            "confirmed": len(st.confirmed),
            "consumed_unique": len(consumed),
            "lost": len(lost),
            "lost_ids": lost[:20],
            "dup": sum(n - 1 for n in st.counts.values() if n > 1),
            "unconfirmed_consumed": len(consumed - st.confirmed),
            "nacks": st.nacks,
            "pub_errors": st.pub_errors,
            "pub_connections": st.pub_reconnects,
            "pub_max_gap_s": round(st.pub_max_gap, 3),
            "cons_connections": st.cons_reconnects,
            "cons_cancels": st.cons_cancels,
            "cons_errors": st.cons_errors,
            "cons_max_gap_s": round(st.cons_max_gap, 3),
            "consumer_finished": not c.is_alive(),
            "elapsed_s": round(time.monotonic() - start, 3),
            "errors": st.errors,
        }
    with open(a.out + ".tmp", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    os.rename(a.out + ".tmp", a.out)
    return 0


# ---------------------------------------------------------- HAProxy stats


def cmd_haproxy_stats(a):
    auth = base64.b64encode(("%s:%s" % (a.user, read_secret(a.password_file))).encode()).decode()
    req = urllib.request.Request(a.url, headers={"Authorization": "Basic " + auth})
    with urllib.request.urlopen(req, timeout=a.timeout) as r:
        text = r.read().decode()
    rows = list(csv.reader(io.StringIO(text.lstrip("# "))))
    head = rows[0]
    idx = {k: head.index(k) for k in ("pxname", "svname", "status")}
    out = [
        {"proxy": r[idx["pxname"]], "server": r[idx["svname"]], "status": r[idx["status"]]}
        for r in rows[1:]
        if len(r) > idx["status"]
    ]
    print(json.dumps(out))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("probe")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--interval", type=float, default=0.1)
    p.add_argument("--timeout", type=float, default=1.0)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--max-attempts", type=int, required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--out", required=True)

    for name in ("declare", "workload"):
        p = sub.add_parser(name)
        p.add_argument("--host", required=True)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--vhost", required=True)
        p.add_argument("--user", required=True)
        p.add_argument("--password-file", required=True)
        p.add_argument("--queue", required=True)
        p.add_argument("--quorum", action="store_true")
        if name == "declare":
            p.add_argument("--attempts", type=int, default=20)
        else:
            p.add_argument("--rate", type=float, default=100.0)
            p.add_argument("--duration", type=float, required=True)
            p.add_argument("--drain-timeout", type=float, default=30.0)
            p.add_argument("--quiet", type=float, default=1.0)
            p.add_argument("--ready")
            p.add_argument("--stop-file")
            p.add_argument("--out", required=True)

    p = sub.add_parser("haproxy-stats")
    p.add_argument("--url", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--timeout", type=float, default=3.0)

    a = ap.parse_args()
    return {
        "probe": cmd_probe,
        "declare": cmd_declare,
        "workload": cmd_workload,
        "haproxy-stats": cmd_haproxy_stats,
    }[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
