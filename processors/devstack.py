"""`iii-kafka dev`: a local broker, workers and the http gateway in one terminal; Ctrl-C stops them
in order (the gateway, the workers, the broker)."""

from __future__ import annotations

import signal
import time

from .admin import app_topics, ensure_topics
from .broker import BrokerConfig, LocalBroker, broker_answers
from .broker.readiness import port_is_free
from .children import stop_on_signals
from .http.config import HttpSettings
from .http.process import GatewayProcess
from .settings import DEFAULT_BOOTSTRAP, Settings
from .workers import WorkerError, WorkerProcess

__all__ = ["DEMO_SERVICES", "DevStack"]

DEMO_SERVICES = "iii_kafka.processors.demo.services"  # when IIIKAFKA_SERVICES names none


class DevStack:
    def __init__(self, settings: Settings, broker: BrokerConfig, start_timeout: float,
                 workers: int = 1, first_web_port: int = 6066) -> None:
        self.settings = settings
        self.broker_config = broker
        self.start_timeout = start_timeout
        self.worker_count = workers
        self.first_web_port = first_web_port
        self.http = HttpSettings.from_env()  # IIIKAFKA_HTTP_PORT, IIIKAFKA_HTTP_HOST
        self.gateway: GatewayProcess | None = None

    def run(self) -> int:
        stop_on_signals()  # Ctrl-C and `kill`: stop the workers, then the broker, then exit
        broker: LocalBroker | None = None
        workers: list[WorkerProcess] = []
        try:
            bootstrap = self.settings.bootstrap_servers
            if not self.settings.bootstrap_is_embedded_default:
                _say(f"using the cluster at KAFKA_BOOTSTRAP_SERVERS={bootstrap}")
            elif broker_answers(self.broker_config.bootstrap_servers):
                bootstrap = self.broker_config.bootstrap_servers
                _say(f"using the broker already running on {bootstrap}")
            else:
                _say(f"starting the local Kafka broker (data in {self.broker_config.data_dir})")
                started = time.monotonic()
                broker = LocalBroker(self.broker_config, self.start_timeout).start()
                bootstrap = broker.bootstrap_servers
                _say(f"broker ready on {bootstrap} in {time.monotonic() - started:.1f}s "
                     f"(log {self.broker_config.server_log})")
            for index in range(1, self.worker_count + 1):
                workers.append(self._start_worker(index, bootstrap))
            for worker in workers:
                worker.wait_ready()
            self.gateway = self._start_gateway(bootstrap)
            self._say_ready(bootstrap)
            while all(worker.running for worker in workers):
                if self.gateway is not None and not self.gateway.running:
                    raise WorkerError("the http gateway exited; see the output above")
                time.sleep(0.5)
            raise WorkerError("a worker exited; see the output above")
        except KeyboardInterrupt:
            _say("stopping")
            return 0
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut shutdown short
            if self.gateway is not None:
                self.gateway.stop()
            for worker in workers:
                worker.stop()
            if broker is not None:
                broker.stop()
                _say("broker stopped")

    def _start_worker(self, index: int, bootstrap: str) -> WorkerProcess:
        data_dir = self.settings.data_dir / f"worker-{index}"
        env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "IIIKAFKA_DATA_DIR": str(data_dir),
               "IIIKAFKA_SERVICES": ",".join(self.settings.services) or DEMO_SERVICES}
        if index == 1:
            ensure_topics(bootstrap, app_topics(self.settings))
        return WorkerProcess(data_dir / "worker.log", env=env, web_port=self.first_web_port + index - 1,
                             echo_prefix=f"[worker-{index}] ").start()

    def _start_gateway(self, bootstrap: str) -> GatewayProcess | None:
        """The http gateway (`iii-kafka http`) for the workers' http triggers. A port that is taken
        (another gateway, say) costs only the gateway: dev says so and runs on without it."""
        if self.http.port and not port_is_free(self.http.host, self.http.port):
            _say(f"port {self.http.port} is taken: http triggers are not served "
                 "(set IIIKAFKA_HTTP_PORT to another port)")
            return None
        log = self.settings.data_dir / "http" / "gateway.log"
        return GatewayProcess(log, port=self.http.port, host=self.http.host,
                              env={"KAFKA_BOOTSTRAP_SERVERS": bootstrap},
                              echo_prefix="[http] ").start().wait_ready()

    def _say_ready(self, bootstrap: str) -> None:
        events = f"{self.settings.app_id}.demo.events"
        prefix = "" if bootstrap == DEFAULT_BOOTSTRAP else f"KAFKA_BOOTSTRAP_SERVERS={bootstrap} "
        _say(f"{self.worker_count} worker(s) ready. Try:\n"
             f"  {prefix}iii-kafka demo send alice bob alice\n"
             f"  curl -s localhost:{self.first_web_port}/demo/counts/\n"
             f"  {prefix}iii-kafka trigger math::sum_of_squares '{{\"a\": 3, \"b\": 4}}'\n"
             f"  {prefix}iii-kafka functions\n"
             f"{self._http_line()}"
             f"Events go to {events}. Ctrl-C stops the workers and the broker.")

    def _http_line(self) -> str:
        if self.gateway is None:
            return ""
        return f"http triggers are served on {self.gateway.url} (docs/http.md).\n"


def _say(message: str) -> None:
    print(f"iii-kafka: {message}", flush=True)
