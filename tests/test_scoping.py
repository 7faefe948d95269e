"""The five rules of 指定人员确认规则 (domain.md §2), one test each, and their limits.

`filing_basis` names the rule that grants access, so each rule's test fails if that rule breaks
even where another rule would also grant the campus.
"""

from schools.models import Campus, FilerDesignation
from schools.scoping import (
    FilingBasis,
    campuses_fileable_by,
    can_file_for,
    filing_basis,
    schools_fileable_by,
)
from tests.conftest import make_user


def codes(user) -> set[str]:
    return set(campuses_fileable_by(user).values_list("code", flat=True))


def test_rule_1_designated_filer_files_for_their_campus(filer_1012, registry):
    assert filing_basis(filer_1012, registry["campuses"]["101200"]) == FilingBasis.DESIGNATED


def test_rule_2_branch_without_filer_uses_main_campus_filers(filer_1012, registry):
    campus = registry["campuses"]["101201"]
    assert filing_basis(filer_1012, campus) == FilingBasis.MAIN_CAMPUS_FILER


def test_rule_2_ends_when_the_branch_has_its_own_filer(filer_1012, registry):
    branch_filer = make_user("branch", "school_filer")
    FilerDesignation.objects.create(user=branch_filer, campus=registry["campuses"]["101201"])
    assert codes(filer_1012) == {"101200"}
    assert codes(branch_filer) == {"101201"}


def test_filer_files_for_no_other_school(filer_1012):
    assert codes(filer_1012) == {"101200", "101201"}


def test_rule_3_handler_of_main_campus_district_backs_up_branches(
    handler_minhang, filer_1012, registry
):
    # 101201 lies in 徐汇区, but 1012's main campus is in 闵行区.
    campus = registry["campuses"]["101201"]
    assert filing_basis(handler_minhang, campus) == FilingBasis.MAIN_DISTRICT_BACKUP


def test_rule_4_handler_backs_up_campuses_in_own_district(handler_minhang, filer_1012, registry):
    campus = registry["campuses"]["101200"]
    assert filing_basis(handler_minhang, campus) == FilingBasis.DISTRICT_BACKUP


def test_rule_4_handler_of_branch_district_backs_up_only_that_branch(
    handler_xuhui, filer_1012, registry
):
    assert (
        filing_basis(handler_xuhui, registry["campuses"]["101201"]) == FilingBasis.DISTRICT_BACKUP
    )
    assert "101200" not in codes(handler_xuhui)


def test_rule_5_handlers_are_filers_of_active_school_without_designation(handler_xuhui, registry):
    campus = registry["campuses"]["101300"]
    assert filing_basis(handler_xuhui, campus) == FilingBasis.DISTRICT_AS_FILER


def test_rule_5_covers_branches_in_other_districts(handler_xuhui, registry):
    branch = Campus.objects.create(
        code="101301",
        school=registry["schools"]["1013"],
        name="浦东分校",
        district=registry["districts"]["浦东新区"],
    )
    assert filing_basis(handler_xuhui, branch) == FilingBasis.DISTRICT_AS_FILER


def test_rule_5_ends_once_the_school_designates_a_filer(handler_xuhui, registry):
    filer = make_user("filer1013", "school_filer")
    FilerDesignation.objects.create(user=filer, campus=registry["campuses"]["101300"])
    campus = registry["campuses"]["101300"]
    assert filing_basis(handler_xuhui, campus) == FilingBasis.DISTRICT_BACKUP


def test_deregistered_school_takes_no_filings(handler_minhang, registry):
    assert "101500" not in codes(handler_minhang)
    assert filing_basis(handler_minhang, registry["campuses"]["101500"]) is None


def test_merged_school_takes_no_filings(handler_xuhui, registry):
    school = registry["schools"]["1013"]
    school.status = school.Status.MERGED
    school.save()
    assert "101300" not in codes(handler_xuhui)


def test_designated_filer_of_deregistered_school_files_nothing(registry):
    filer = make_user("old", "school_filer")
    FilerDesignation.objects.create(user=filer, campus=registry["campuses"]["101500"])
    assert codes(filer) == set()


def test_handler_of_another_district_sees_none_of_1012(handler_pudong, filer_1012):
    assert not codes(handler_pudong) & {"101200", "101201"}


def test_city_admin_files_for_every_active_campus(city_admin):
    assert codes(city_admin) == {"101200", "101201", "101300", "101400"}


def test_user_without_designation_files_nothing(registry):
    assert codes(make_user("nobody", "school_filer")) == set()


def test_inactive_user_files_nothing(filer_1012):
    filer_1012.is_active = False
    assert codes(filer_1012) == set()


def test_schools_fileable_lists_each_school_once(filer_1012):
    assert list(schools_fileable_by(filer_1012).values_list("code", flat=True)) == ["1012"]


def test_can_file_for(filer_1012, registry):
    assert can_file_for(filer_1012, registry["campuses"]["101201"])
    assert not can_file_for(filer_1012, registry["campuses"]["101300"])
