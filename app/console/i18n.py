"""The console's words in Polish (the default: our users are Polish shops) and English.

One key a phrase; a template asks `t("key")`. A key missing from a language falls back to
Polish, and a key missing everywhere shows as itself, so a slip is visible, never an error.
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("pl", "en")
DEFAULT = "pl"

_TEXTS: dict[str, dict[str, str]] = {
    "pl": {
        "app": "iluo-sync · Konfigurator",
        "service": "Usługa", "tenants": "Bazy danych", "history": "Historia",
        "logout": "Wyloguj", "login": "Zaloguj", "user": "Użytkownik", "password": "Hasło",
        "login_title": "Logowanie do Konfiguratora",
        "login_failed": "Nieprawidłowa nazwa użytkownika lub hasło.",
        "login_locked": "Zbyt wiele nieudanych prób. Spróbuj ponownie za kilkanaście minut.",
        "tick": "Zegar (tick)", "tick_never": "jeszcze nie działał",
        "ago": "temu", "seconds": "s", "workers": "Procesy robocze", "live": "działa",
        "silent": "milczy", "queues": "Kolejki", "queue": "kolejka", "ready": "czeka",
        "unacked": "w toku", "consumers": "odbiorcy", "dead": "martwe (.XQ)",
        "delayed": "odłożone (.DQ)", "queues_off": "API zarządzania RabbitMQ nie jest ustawione.",
        "queues_down": "API zarządzania RabbitMQ nie odpowiada",
        "rabbit_link": "Otwórz panel RabbitMQ", "parked": "Zaparkowane wiadomości (24 h)",
        "problems": "Wymaga uwagi", "all_well": "Wszystko działa.", "none": "brak",
        "activity": "Ostatnie działania w Konfiguratorze",
        "tenant": "Baza", "active": "Aktywna", "inactive": "Wyłączona",
        "health": "Stan", "last_run": "Ostatnie uruchomienie", "failing": "Błędy",
        "pending": "Oczekujące", "actions": "Działania",
        "light_green": "w porządku", "light_amber": "do sprawdzenia", "light_red": "problem",
        "light_off": "wyłączona",
        "add_tenant": "Dodaj bazę danych", "name": "Nazwa", "db_url": "Adres bazy (URL)",
        "db_url_help": "np. mssql+pyodbc://uzytkownik@serwer/baza?driver=ODBC+Driver+18+for+SQL"
                       "+Server — hasło wpisz w osobnym polu",
        "db_password": "Hasło do bazy", "record_history": "Zapisuj historię zdarzeń",
        "start_active": "Od razu aktywna", "add": "Sprawdź połączenie i dodaj",
        "added": "Baza dodana: połączenie sprawdzone, tabele sync_* założone.",
        "activate": "Włącz", "deactivate": "Wyłącz", "remove": "Usuń z listy",
        "confirm": "Potwierdź", "cancel": "Anuluj",
        "confirm_deactivate": "Wyłączyć synchronizację bazy {name}? Żadne nowe uruchomienie "
                              "się nie zacznie, a ERP pokaże stan „zatrzymana”, dopóki jej "
                              "nie włączysz.",
        "confirm_activate": "Włączyć z powrotem synchronizację bazy {name}?",
        "confirm_remove": "Usunąć bazę {name} z listy? Dane w ERP pozostaną nietknięte.",
        "activated": "Synchronizacja włączona.", "deactivated": "Synchronizacja wyłączona.",
        "removed": "Baza usunięta z listy.",
        "integrations": "Integracje ze sklepami", "platform": "Platforma", "shop": "Sklep",
        "flags": "Ustawienia", "auto_sync": "automatycznie", "operation": "Operacja",
        "enabled": "włączona", "every": "co", "minutes": "min", "next_due": "Następne",
        "result": "Wynik", "run_now": "Uruchom teraz", "run_queued": "Zlecone: uruchomi się za "
        "chwilę, wynik pojawi się w historii.",
        "run_busy": "To zadanie już czeka w kolejce albo właśnie trwa.",
        "run_refused": "Nie można uruchomić: {reason}",
        "not_automatic": "operacja nie działa automatycznie (włącz ją w ERP albo użyj "
                         "`iluo-sync run`)",
        "tenant_off": "synchronizacja tej bazy jest wyłączona",
        "config_errors": "Błędy konfiguracji", "limitations": "Ograniczenia platformy",
        "chart_title": "Ostatnie 24 godziny", "chart_runs": "uruchomienia",
        "chart_failed": "nieudane", "chart_items": "zapisane pozycje",
        "recent_runs": "Ostatnie uruchomienia", "pending_items": "Pozycje oczekujące "
        "(zestaw ponowień)", "item": "Pozycja", "state": "Stan", "since": "Od",
        "attempts": "Próby", "next_attempt": "Następna próba", "last_error": "Ostatni błąd",
        "retry": "ponowienie", "attention": "wymaga uwagi",
        "filters": "Filtry", "integration": "Integracja", "level": "Poziom", "from": "Od",
        "to": "Do", "filter": "Filtruj", "any": "dowolna", "time": "Czas", "kind": "Rodzaj",
        "message": "Opis", "run": "Uruchomienie", "newer": "← nowsze", "older": "starsze →",
        "page": "Strona", "no_events": "Brak zdarzeń dla tych filtrów.",
        "counts": "Liczby", "n_read": "odczytane", "n_created": "nowe",
        "n_updated": "zmienione", "n_failed": "błędy", "error": "Błąd", "started": "Start",
        "finished": "Koniec",
        "trigger": "Wyzwalacz", "events_of_run": "Zdarzenia tego uruchomienia",
        "back": "Wróć", "times_in": "Czasy w strefie",
        "not_found": "Nie ma takiej strony.", "forbidden": "Brak dostępu.",
        "bad_request": "Formularz wygasł albo jest niepełny — odśwież stronę i spróbuj ponownie.",
        "db_unreachable": "Nie można odczytać bazy danych: {error}",
        "op_import_orders": "Import zamówień", "op_update_order_statuses": "Statusy zamówień "
        "do sklepu", "op_export_products": "Eksport produktów",
        "op_import_products": "Import produktów", "op_update_stock": "Stany magazynowe",
        "out_ok": "ok", "out_partial": "częściowo", "out_failed": "błąd",
        "out_skipped": "pominięte", "out_running": "trwa", "out_abandoned": "przerwane",
        "yes": "tak", "no": "nie", "language": "English",
        "webhooks": "Webhooki sklepu", "wh_none": "brak (tylko odpytywanie)",
        "wh_created": "jeszcze nie w sklepie", "wh_registered": "zarejestrowane, aktywne w sklepie",
        "wh_disabled": "wyłączone przez sklep", "wh_missing": "brak w sklepie",
        "wh_checked": "stan z", "wh_last": "ostatni odebrany", "never": "nigdy",
    },
    "en": {
        "app": "iluo-sync · Configurator",
        "service": "Service", "tenants": "Databases", "history": "History",
        "logout": "Log out", "login": "Log in", "user": "User", "password": "Password",
        "login_title": "Log in to the Configurator",
        "login_failed": "Wrong user name or password.",
        "login_locked": "Too many failed attempts. Try again in a quarter of an hour.",
        "tick": "Clock (tick)", "tick_never": "has not run yet",
        "ago": "ago", "seconds": "s", "workers": "Workers", "live": "live",
        "silent": "silent", "queues": "Queues", "queue": "queue", "ready": "ready",
        "unacked": "in progress", "consumers": "consumers", "dead": "dead (.XQ)",
        "delayed": "delayed (.DQ)", "queues_off": "The RabbitMQ management API is not set.",
        "queues_down": "The RabbitMQ management API does not answer",
        "rabbit_link": "Open RabbitMQ management", "parked": "Parked messages (24 h)",
        "problems": "Needs a person", "all_well": "All well.", "none": "none",
        "activity": "Recent actions in the Configurator",
        "tenant": "Database", "active": "Active", "inactive": "Switched off",
        "health": "Health", "last_run": "Last run", "failing": "Failing",
        "pending": "Pending", "actions": "Actions",
        "light_green": "fine", "light_amber": "worth a look", "light_red": "problem",
        "light_off": "switched off",
        "add_tenant": "Add a database", "name": "Name", "db_url": "Database URL",
        "db_url_help": "e.g. mssql+pyodbc://user@server/db?driver=ODBC+Driver+18+for+SQL+Server"
                       " — the password goes in its own field",
        "db_password": "Database password", "record_history": "Record the event history",
        "start_active": "Active at once", "add": "Test the connection and add",
        "added": "Database added: connection checked, sync_* tables created.",
        "activate": "Switch on", "deactivate": "Switch off", "remove": "Remove from the list",
        "confirm": "Confirm", "cancel": "Cancel",
        "confirm_deactivate": "Switch off the synchronisation of {name}? No new run starts, and "
                              "the ERP shows it stopped, until you switch it on again.",
        "confirm_activate": "Switch the synchronisation of {name} back on?",
        "confirm_remove": "Remove {name} from the list? Its ERP data stays untouched.",
        "activated": "Synchronisation switched on.",
        "deactivated": "Synchronisation switched off.", "removed": "Database removed.",
        "integrations": "Shop integrations", "platform": "Platform", "shop": "Shop",
        "flags": "Settings", "auto_sync": "automatic", "operation": "Operation",
        "enabled": "enabled", "every": "every", "minutes": "min", "next_due": "Next",
        "result": "Result", "run_now": "Run now",
        "run_queued": "Queued: it starts in a moment; the result appears in the history.",
        "run_busy": "This one is already queued or running.",
        "run_refused": "Cannot run: {reason}",
        "not_automatic": "the operation does not run automatically (switch it on in the ERP, "
                         "or use `iluo-sync run`)",
        "tenant_off": "this database's synchronisation is switched off",
        "config_errors": "Configuration errors", "limitations": "Platform limitations",
        "chart_title": "The last 24 hours", "chart_runs": "runs", "chart_failed": "failed",
        "chart_items": "items written", "recent_runs": "Recent runs",
        "pending_items": "Pending items (the retry set)", "item": "Item", "state": "State",
        "since": "Since", "attempts": "Attempts", "next_attempt": "Next attempt",
        "last_error": "Last error", "retry": "retry", "attention": "needs attention",
        "filters": "Filters", "integration": "Integration", "level": "Level", "from": "From",
        "to": "To", "filter": "Filter", "any": "any", "time": "Time", "kind": "Kind",
        "message": "Message", "run": "Run", "newer": "← newer", "older": "older →",
        "page": "Page", "no_events": "No events for these filters.",
        "counts": "Counts", "n_read": "read", "n_created": "new", "n_updated": "changed",
        "n_failed": "failed", "error": "Error", "started": "Started", "finished": "Finished",
        "trigger": "Trigger", "events_of_run": "This run's events", "back": "Back",
        "times_in": "Times in",
        "not_found": "No such page.", "forbidden": "Not allowed.",
        "bad_request": "The form expired or is incomplete: reload the page and try again.",
        "db_unreachable": "Cannot read the database: {error}",
        "op_import_orders": "Import orders", "op_update_order_statuses": "Order statuses to "
        "the shop", "op_export_products": "Export products",
        "op_import_products": "Import products", "op_update_stock": "Stock levels",
        "out_ok": "ok", "out_partial": "partial", "out_failed": "failed",
        "out_skipped": "skipped", "out_running": "running", "out_abandoned": "abandoned",
        "yes": "yes", "no": "no", "language": "Polski",
        "webhooks": "Shop webhooks", "wh_none": "none (polling only)",
        "wh_created": "not on the shop yet", "wh_registered": "registered, active in the shop",
        "wh_disabled": "disabled by the shop", "wh_missing": "missing in the shop",
        "wh_checked": "as of", "wh_last": "last received", "never": "never",
    },
}


def translator(lang: str) -> Callable[..., str]:
    texts = _TEXTS.get(lang, _TEXTS[DEFAULT])

    def t(key: str, **values: object) -> str:
        text = texts.get(key) or _TEXTS[DEFAULT].get(key) or key
        return text.format(**values) if values else text

    return t
