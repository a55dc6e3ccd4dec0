"""Which implementation of each state system the bot uses: the HTTP one when its QYZMET_*_URL is set, else
the embedded tables (directory, registries) or nothing (monitoring, complaints intake: off)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.clock import Clock
from bot.config import Settings
from bot.gateways.complaints_intake import HttpComplaintsIntake
from bot.gateways.directory import EmbeddedDirectory, HttpDirectory
from bot.gateways.monitoring import HttpMonitoring
from bot.gateways.registries import EmbeddedRegistries, HttpRegistries
from bot.gateways.state_http import StateHttpClient, client_tls
from bot.gateways.state_systems import CitizenDirectory, ComplaintsIntake, Monitoring, Registries
from store.citizens import CitizenRepository


@dataclass
class StateSystems:
    directory: CitizenDirectory
    registries: Registries
    monitoring: Monitoring | None
    complaints: ComplaintsIntake | None
    clients: list[StateHttpClient] = field(default_factory=list)

    async def close(self) -> None:
        for client in self.clients:
            await client.close()


def state_systems(settings: Settings, citizens: CitizenRepository, clock: Clock) -> StateSystems:
    tls = client_tls(settings)
    clients: list[StateHttpClient] = []

    def client(system: str, url: str) -> StateHttpClient:
        made = StateHttpClient(system, url, settings, clock, tls)
        clients.append(made)
        return made

    directory: CitizenDirectory = (HttpDirectory(client("citizen directory", settings.directory_url))
                                   if settings.directory_url else EmbeddedDirectory(citizens))
    registries: Registries = (HttpRegistries(client("registries", settings.registry_url))
                              if settings.registry_url else EmbeddedRegistries(citizens))
    monitoring = HttpMonitoring(client("monitoring", settings.monitoring_url)) if settings.monitoring_url else None
    complaints = (HttpComplaintsIntake(client("complaints intake", settings.complaints_url))
                  if settings.complaints_url else None)
    return StateSystems(directory, registries, monitoring, complaints, clients)
