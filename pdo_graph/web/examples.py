"""Example operations for analysts: preloaded as GraphiQL tabs at ``/graphql?examples=analytics`` and
listed in docs/analytics.md (a test runs each one and checks the document lists it verbatim)."""

from __future__ import annotations

ANALYST_HEADERS = '{"Authorization": "Bearer <токен аналитика: pdo-graph dev-token --role ANALYST --subject an>"}'

ANALYTICS_EXAMPLES: list[tuple[str, str]] = [
    (
        "Сертификаты по муниципалитетам",
        """# Сколько детей получили сертификат, сколько из них финансируются, сколько в очереди (на последний месяц)
query Certificates {
  analytics(measures: [CERTIFICATES, FUNDED_CERTIFICATES, QUEUED_CERTIFICATES], by: [MUNICIPALITY]) {
    columns rows suppressed asOf monthFrom monthTo csvUrl
  }
}""",
    ),
    (
        "Охват по месяцам и направлениям",
        """# Сколько детей занимаются по договорам, по месяцам и направлениям
query Coverage {
  analytics(measures: [CHILDREN_ENROLLED], by: [MONTH, DIRECTION]) {
    columns rows suppressed asOf
  }
}""",
    ),
    (
        "Деньги по муниципалитетам",
        """# Как используются средства: зачислено, в резерве, израсходовано, сгорело
query Money {
  analytics(measures: [CREDITED, RESERVED, SPENT, EXPIRED], by: [MUNICIPALITY]) {
    columns rows suppressed asOf monthFrom monthTo
  }
}""",
    ),
    (
        "Расходы по месяцам и видам программ",
        """# Израсходовано по месяцам оказания услуг и видам финансирования программ
query SpendingByKind {
  analytics(measures: [SPENT, ENROLLMENTS], by: [MONTH, FUNDING_KIND]) {
    columns rows suppressed asOf
  }
}""",
    ),
    (
        "Поставщики муниципалитета",
        """# Как поставщики оказывают услуги: средняя полнота, договоры и расходы (один муниципалитет)
query Providers {
  analytics(measures: [AVERAGE_COMPLETENESS, ENROLLMENTS, SPENT], by: [PROVIDER], filter: {municipality: "01"}) {
    columns rows suppressed asOf
  }
}""",
    ),
    (
        "Возраст и направления",
        """# Договоры и дети по возрасту и направлению за учебный год
query Ages {
  analytics(measures: [ENROLLMENTS, CHILDREN_ENROLLED], by: [AGE, DIRECTION],
            filter: {monthFrom: "2025-09-01", monthTo: "2026-05-01"}) {
    columns rows suppressed asOf monthFrom monthTo
  }
}""",
    ),
]
