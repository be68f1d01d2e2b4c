"""User-facing messages of the integrations area: key -> (Russian, English)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    # catalog sources
    "source_url_invalid": (
        "Укажите абсолютный адрес http(s) без пробелов и фрагмента (#)",
        "Give an absolute http(s) URL without spaces or a fragment (#)",
    ),
    "source_url_https": (
        "Адрес должен начинаться с https:// (http допустим только для localhost)",
        "The URL must use https:// (plain http only on localhost)",
    ),
    "source_url_credentials": (
        "Адрес не должен содержать логин и пароль: секрет передаётся отдельным полем",
        "The URL must not carry credentials: send the secret in its own field",
    ),
    "source_format_unknown": ("Неизвестный формат ленты", "Unknown feed format"),
    "source_auth_unknown": ("Неизвестный способ аутентификации клиента", "Unknown client authentication method"),
    "source_text_invalid": (
        "Значение должно быть непустым, не длиннее {max} символов и без управляющих символов",
        "The value must be non-empty, at most {max} characters, without control characters",
    ),
    "source_interval": (
        "Интервал синхронизации — от {min} до {max} минут",
        "The sync interval must be {min} to {max} minutes",
    ),
    "source_activity_map_size": (
        "Не больше {max} соответствий видов деятельности",
        "At most {max} activity mappings",
    ),
    "source_secret_required": (
        "Для этого способа аутентификации нужен секрет (секрет клиента или закрытый ключ)",
        "This authentication method needs its secret (a client secret or a private key)",
    ),
    "source_secret_not_used": (
        "Этот секрет не используется выбранным способом аутентификации",
        "This secret is not used by the chosen authentication method",
    ),
    "source_secret_length": (
        "Секрет клиента — от 1 до {max} символов",
        "The client secret must be 1 to {max} characters",
    ),
    "source_secret_key_missing": (
        "Сервер не может хранить секреты: не задан PDO_SECRET_KEY. Обратитесь к администратору",
        "The server cannot store secrets: PDO_SECRET_KEY is not set. Contact the administrator",
    ),
    "source_key_invalid": (
        "Закрытый ключ не прочитан: нужен PEM (PKCS#8, PKCS#1 или SEC1) без пароля",
        "The private key cannot be read: give a PEM (PKCS#8, PKCS#1 or SEC1) without a password",
    ),
    "source_key_encrypted": (
        "Закрытый ключ защищён паролем: загрузите его без пароля (на сервере он хранится зашифрованным)",
        "The private key is password-protected: upload it without a password (the server stores it encrypted)",
    ),
    "source_key_weak": ("Ключ RSA должен быть не короче 2048 бит", "An RSA key must have at least 2048 bits"),
    "source_key_unsupported": (
        "Поддерживаются ключи RSA, EC P-256/P-384/P-521 и Ed25519",
        "Supported keys: RSA, EC P-256/P-384/P-521 and Ed25519",
    ),
    "source_duplicate": (
        "У этой организации уже есть источник с таким адресом ленты",
        "The organisation already has a source with this feed URL",
    ),
    "source_busy": (
        "Источник сейчас синхронизируется; повторите, когда синхронизация закончится",
        "The source is being synced now; try again when the run has finished",
    ),
    "sync_already_running": (
        "Синхронизация этого источника уже идёт",
        "A sync of this source is already running",
    ),
    # run outcomes
    "sync_items_refused": (
        "Лента прочитана до конца; отклонено записей: {count}",
        "The feed was read to its end; items refused: {count}",
    ),
    "sync_budget_exhausted": (
        "Исчерпано время на запуск ({seconds} с); следующий запуск продолжит с сохранённой позиции",
        "The run's time budget ({seconds} s) is spent; the next run continues from the saved position",
    ),
    "sync_interrupted": (
        "Запуск прерван: процесс остановился до завершения; следующий запуск продолжил с сохранённой позиции",
        "The run was interrupted: its process stopped; the next run went on from the saved position",
    ),
    "sync_cancelled": ("Запуск остановлен (сервер завершает работу)", "The run was stopped (server shutting down)"),
    "sync_internal_error": (
        "Внутренняя ошибка синхронизации; подробности в журнале сервера",
        "Internal sync error; see the server log",
    ),
    "sync_secret_unreadable": (
        "Секрет источника не расшифрован (PDO_SECRET_KEY не задан или изменён): введите секрет заново",
        "The source's secret cannot be decrypted (PDO_SECRET_KEY missing or changed): enter the secret again",
    ),
    # OIDC
    "sync_discovery_unreachable": (
        "Издатель OIDC недоступен ({error})",
        "The OIDC issuer is unreachable ({error})",
    ),
    "sync_discovery_status": (
        "Документ обнаружения OIDC не получен: HTTP {status}",
        "The OIDC discovery document was not served: HTTP {status}",
    ),
    "sync_discovery_invalid": (
        "Документ обнаружения OIDC некорректен (нет token_endpoint)",
        "The OIDC discovery document is invalid (no token_endpoint)",
    ),
    "sync_discovery_insecure": (
        "Точка получения токена издателя доступна не по HTTPS",
        "The issuer's token endpoint is not served over HTTPS",
    ),
    "sync_discovery_issuer_mismatch": (
        "Издатель в документе обнаружения OIDC не совпадает с указанным в источнике",
        "The issuer in the OIDC discovery document differs from the source's issuer",
    ),
    "sync_token_refused": (
        "Издатель отказал в токене: {error}",
        "The issuer refused a token: {error}",
    ),
    "sync_token_status": (
        "Точка выдачи токенов ответила HTTP {status}",
        "The token endpoint answered HTTP {status}",
    ),
    "sync_token_unreachable": (
        "Точка выдачи токенов недоступна ({error})",
        "The token endpoint is unreachable ({error})",
    ),
    "sync_token_invalid": ("Ответ с токеном некорректен", "The token response is invalid"),
    # feed
    "sync_feed_unauthorized": (
        "Лента отклонила и новый токен (HTTP 401): проверьте клиента, аудиторию и права",
        "The feed refused a fresh token too (HTTP 401): check the client, audience and grants",
    ),
    "sync_feed_http_status": (
        "Лента ответила HTTP {status}",
        "The feed answered HTTP {status}",
    ),
    "sync_feed_gave_up": (
        "Страница ленты не получена за {attempts} попыток; последняя причина: {cause}",
        "The feed page was not received in {attempts} attempts; last cause: {cause}",
    ),
    "sync_feed_rate_limited_long": (
        "Лента просит подождать {seconds} с — дольше допустимого; следующий запуск продолжит",
        "The feed asks to wait {seconds} s, longer than allowed; the next run continues",
    ),
    "sync_feed_page_too_large": (
        "Страница ленты больше {max} байт",
        "A feed page is larger than {max} bytes",
    ),
    "sync_feed_ordering": (
        "Лента нарушает порядок RPDE: запись {id} (modified {modified}) не позже уже прочитанных"
        " (modified {previous}); синхронизация остановлена, чтобы не читать записи по кругу",
        "The feed breaks the RPDE order: item {id} (modified {modified}) is not after those already read"
        " (modified {previous}); the sync stopped rather than read items in a loop",
    ),
    "sync_page_not_object": ("Страница ленты — не объект JSON", "A feed page is not a JSON object"),
    "sync_page_no_items": ("В странице ленты нет массива items", "A feed page has no items array"),
    "sync_page_no_next": ("В странице ленты нет адреса next", "A feed page has no next URL"),
    "sync_page_too_many_items": (
        "В странице ленты {count} записей (допустимо до {max})",
        "A feed page has {count} items (at most {max})",
    ),
    "sync_page_foreign_next": (
        "Адрес next ведёт на другой сервер: токен туда не отправляется",
        "The next URL points to another server: the token is not sent there",
    ),
    "sync_page_loop": (
        "Пустые страницы ленты ссылаются друг на друга по кругу",
        "Empty feed pages point to each other in a circle",
    ),
    "sync_page_next_is_self": (
        "Непустая страница ленты ссылается сама на себя: лента повторяла бы записи",
        "A non-empty feed page points to itself: the feed would repeat its items",
    ),
    # events of a run
    "sync_event_http_status": ("Ответ HTTP {status}, повтор", "HTTP {status}, retrying"),
    "sync_event_timeout": ("Нет ответа за {seconds} с, повтор", "No answer within {seconds} s, retrying"),
    "sync_event_network": ("Сетевая ошибка ({error}), повтор", "Network error ({error}), retrying"),
    "sync_event_malformed_json": ("Ответ — не JSON, повтор", "The answer is not JSON, retrying"),
    "sync_event_rate_limited": (
        "Лента просит подождать (HTTP 429), ожидание {delay} с",
        "The feed asks to wait (HTTP 429), waiting {delay} s",
    ),
    "sync_event_token_retry": ("Токен не получен ({reason}), повтор", "No token ({reason}), retrying"),
    "sync_event_token_refetch": (
        "Лента отклонила токен (HTTP 401): получен новый",
        "The feed refused the token (HTTP 401): fetched a new one",
    ),
    "sync_event_full_harvest": (
        "Полное чтение ленты с начала",
        "Reading the whole feed from its start",
    ),
    "sync_event_outage_reharvest": (
        "Лента не дочитывалась дольше {days} дн.: полное чтение с начала",
        "The feed was not read to its end for over {days} days: reading it all from the start",
    ),
    "sync_event_harvest_archived": (
        "Перенесено в архив программ, которых больше нет в ленте: {count}",
        "Programs no longer in the feed archived: {count}",
    ),
    "sync_event_dropped": ("Ещё событий не записано: {count}", "Further events not recorded: {count}"),
    # items
    "sync_item_not_object": ("Запись ленты — не объект", "The feed item is not an object"),
    "sync_item_bad_id": (
        "Идентификатор — строка от 1 до {max} символов или целое число",
        "The id must be a string of 1 to {max} characters or an integer",
    ),
    "sync_item_bad_modified": (
        "Поле modified должно быть неотрицательным целым",
        "modified must be a non-negative integer",
    ),
    "sync_item_bad_state": ("Поле state должно быть updated или deleted", "state must be updated or deleted"),
    "sync_item_bad_kind": ("Не указан вид записи (kind)", "The item has no kind"),
    "sync_item_no_data": ("У записи updated нет объекта data", "An updated item has no data object"),
    "sync_item_unknown_kind": (
        "Вид записи {kind} не поддерживается форматом источника",
        "Item kind {kind} is not supported by the source's format",
    ),
    "sync_item_foreign_provider": (
        "Запись относится к другой организации: чужие данные не принимаются",
        "The item belongs to another organisation: foreign data is refused",
    ),
    "sync_item_database": (
        "Запись отклонена базой данных",
        "The item was refused by the database",
    ),
    "sync_field_missing": ("Нет обязательного поля {field}", "Required field {field} is missing"),
    "sync_field_type": ("Поле {field} должно иметь тип {type}", "Field {field} must be of type {type}"),
    "sync_field_date": ("Поле {field}: дата в формате ГГГГ-ММ-ДД", "Field {field}: a date as YYYY-MM-DD"),
    "sync_group_duplicate": ("Группа с таким id уже есть в записи", "A group with this id repeats in the item"),
    "sync_too_many_groups": ("Не больше {max} групп у программы", "At most {max} groups per program"),
    "sync_oa_no_offer": ("Нет предложения (offers) с ценой", "No offer with a price"),
    "sync_oa_no_rub_offer": ("Нет предложения в рублях", "No offer in roubles"),
    "sync_oa_price_inexact": (
        "Цена должна быть неотрицательной и точной до копейки",
        "The price must be non-negative and exact to the kopeck",
    ),
    "sync_oa_age_outside": (
        "Возрастной диапазон не пересекается с 0–18 лет",
        "The age range does not overlap 0-18 years",
    ),
    "sync_oa_no_dates": (
        "Нет дат начала и окончания (startDate, endDate или eventSchedule)",
        "No start and end dates (startDate, endDate or eventSchedule)",
    ),
    "sync_oa_no_capacity": (
        "Нет числа мест (maximumAttendeeCapacity)",
        "No capacity (maximumAttendeeCapacity)",
    ),
    # push
    "push_too_many_items": (
        "За один вызов — не больше {max} программ",
        "At most {max} programs per call",
    ),
    "push_too_many_groups": ("Не больше {max} групп у программы", "At most {max} groups per program"),
    "push_duplicate_item": (
        "Программа с этим externalId уже есть выше в этом вызове",
        "A program with this externalId appears earlier in this call",
    ),
    "push_rejected": (
        "Ничего не сохранено: отклонено строк {count} (политика REJECT_EVERYTHING)",
        "Nothing was saved: {count} rows refused (policy REJECT_EVERYTHING)",
    ),
    "push_not_saved": (
        "Строка не сохранена: отклонены другие строки (политика REJECT_EVERYTHING)",
        "Row not saved: other rows were refused (policy REJECT_EVERYTHING)",
    ),
}
